// EDM Heun (Karras et al. 2022, Alg. 1 without churn): 2nd-order correction on every interval, the last
// one included, since the grid ends at σ_min > 0 (diff-sampler convention; docs/amed.md §4).
#include "solvers/families.h"
#include "solvers/lincomb.h"

namespace dsx {
namespace {

class HeunSolver : public Solver {
 public:
  explicit HeunSolver(const Options& o) : common_(CommonOptions::from(o)) {}

  at::Tensor sample(const Denoiser& model, at::Tensor x, const std::vector<double>& sigmas,
                    const SampleHooks& hooks) const override {
    Evaluator ev(model, common_);
    at::Tensor spare;  // the previous step's predictor buffer, reused when nobody else holds it
    for (size_t i = 0; i + 1 < sigmas.size(); ++i) {
      const double s = sigmas[i], t = sigmas[i + 1], h = t - s;
      // With d = (x − D)/s, x' = x + h·d and d' = (x' − D')/t, the trapezoidal step
      // x + h(d + d')/2 is a combination of x, D and D' only.
      at::Tensor den = ev.data(x, s);
      at::Tensor x_pred = lincomb_into(spare, {{t / s, x}, {1.0 - t / s, den}});
      at::Tensor den_pred = ev.data(x_pred, t);
      x = lincomb_into(x,
                       {{1.0 + h / s, x}, {-h / (2 * s) + h / (2 * t) * (1.0 - t / s), den}, {-h / (2 * t), den_pred}});
      spare = std::move(x_pred);
      if (hooks.on_step) hooks.on_step({int(i), s, t, x});
    }
    return x;
  }
  int64_t expected_nfe(int n) const override { return 2 * (n - 1) - (common_.afs ? 1 : 0); }

 private:
  CommonOptions common_;
};

}  // namespace

std::vector<SolverEntry> heun_family() {
  return {{"heun",
           "EDM Heun: Euler predictor + trapezoidal corrector on every interval",
           "Karras et al. 2022 (EDM)",
           "2(N−1) (−1 with afs)",
           "2",
           {},
           [](const Options& o) { return std::make_unique<HeunSolver>(o); }}};
}

}  // namespace dsx
