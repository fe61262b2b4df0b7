// DPM-Solver-2 in EDM (VE) variables, as diff-sampler's dpm_2_sampler writes it (docs/amed.md §4). The
// intermediate point s = σ_{i+1}^r σ_i^{1−r} is uniform in λ = −log σ, so this is exactly the ε-form
// exponential-integrator DPM-Solver-2 of docs/solvers.md §3.2 (its t·expm1(h) is σ_i − σ_{i+1} here).
#include <cmath>

#include "solvers/dpm2.h"
#include "solvers/families.h"
#include "solvers/lincomb.h"

namespace dsx {
namespace {

class Dpm2Solver : public Solver {
 public:
  explicit Dpm2Solver(const Options& o) : common_(CommonOptions::from(o)), r_(o.get_double("r")) {}

  at::Tensor sample(const Denoiser& model, at::Tensor x, const std::vector<double>& sigmas,
                    const SampleHooks& hooks) const override {
    Evaluator ev(model, common_);
    const auto [w_cur, w_mid] = dpm2_weights(r_);
    at::Tensor spare;  // the previous step's intermediate-point buffer
    for (size_t i = 0; i + 1 < sigmas.size(); ++i) {
      const double s = sigmas[i], t = sigmas[i + 1], h = t - s;
      const double mid = std::pow(t, r_) * std::pow(s, 1.0 - r_);
      // d = (x − D)/s, x_mid = x + (mid − s)·d, d_mid = (x_mid − D_mid)/mid, x ← x + h(w_mid·d_mid + w_cur·d):
      // x_mid and the update are combinations of x, D and D_mid only.
      at::Tensor den = ev.data(x, s);
      at::Tensor x_mid = lincomb_into(spare, {{mid / s, x}, {1.0 - mid / s, den}});
      at::Tensor den_mid = ev.data(x_mid, mid);
      const double a = h * w_cur / s, b = h * w_mid / mid;
      x = lincomb_into(x, {{1.0 + a + b * (mid / s), x}, {-a + b * (1.0 - mid / s), den}, {-b, den_mid}});
      spare = std::move(x_mid);
      if (hooks.on_step) hooks.on_step({int(i), s, t, x});
    }
    return x;
  }
  int64_t expected_nfe(int n) const override { return 2 * (n - 1) - (common_.afs ? 1 : 0); }

 private:
  CommonOptions common_;
  double r_;
};

}  // namespace

std::vector<SolverEntry> dpm2_family() {
  return {{"dpm2",
           "DPM-Solver-2 in EDM form: Euler to s = σ_{i+1}^r σ_i^{1−r}, then a weighted two-slope step",
           "Lu et al. 2022 (DPM-Solver); EDM form of zju-pi/diff-sampler dpm_2_sampler",
           "2(N−1) (−1 with afs)",
           "2",
           {opt::number("r", 0.5, 0.0, 1.0,
                        "position of the intermediate point in log σ (0.5 = geometric mean = λ midpoint)")
                .exclusive_min()
                .exclusive_max()},
           [](const Options& o) { return std::make_unique<Dpm2Solver>(o); }}};
}

}  // namespace dsx
