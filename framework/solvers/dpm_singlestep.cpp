// Singlestep DPM-Solver-2/3 (noise prediction) and DPM-Solver++ 2S/3S (data prediction), one outer step per
// grid interval with intermediate points uniform in λ = −log σ (r = ½, or ⅓ and ⅔), 'dpmsolver' update type
// (docs/solvers.md §3.2–3.3; dpm_solver_pytorch.py singlestep_dpm_solver_{second,third}_update).
#include <cmath>

#include "solvers/families.h"
#include "solvers/lincomb.h"

namespace dsx {
namespace {

class DpmSinglestepSolver : public Solver {
 public:
  explicit DpmSinglestepSolver(const Options& o)
      : common_(CommonOptions::from(o)), order_(int(o.get_int("order"))), data_(o.get_bool("predict_x0")) {}

  at::Tensor sample(const Denoiser& model, at::Tensor x, const std::vector<double>& sigmas,
                    const SampleHooks& hooks) const override {
    Evaluator ev(model, common_);
    const double r1 = order_ == 2 ? 0.5 : 1.0 / 3.0, r2 = 2.0 / 3.0;
    at::Tensor stage;  // the intermediate states' buffer, reused by every step (fresh ones cost page faults)
    for (size_t i = 0; i + 1 < sigmas.size(); ++i) {
      const double s = sigmas[i], t = sigmas[i + 1], h = std::log(s / t);
      const double s1 = s * std::exp(-r1 * h), s2 = s * std::exp(-r2 * h);
      if (data_)
        data_step(ev, x, stage, s, t, h, r1, r2, s1, s2);
      else
        noise_step(ev, x, stage, s, t, h, r1, r2, s1, s2);
      if (hooks.on_step) hooks.on_step({int(i), s, t, x});
    }
    return x;
  }
  int64_t expected_nfe(int n) const override { return order_ * (n - 1) - (common_.afs ? 1 : 0); }

 private:
  // ε = (x − D)/σ is folded into the coefficients (never materialised): each update is one fused pass. The
  // intermediate states go to `stage` and the step's result over x, each in place when nobody else holds it.
  void noise_step(Evaluator& ev, at::Tensor& x, at::Tensor& stage, double s, double t, double h, double r1, double r2,
                  double s1, double s2) const {
    const at::Tensor d0 = ev.data(x, s);
    const double a1 = s1 * std::expm1(r1 * h) / s;  // x1 = x − s1(e^{r1 h} − 1)·ε0
    stage = lincomb_into(stage, {{1.0 - a1, x}, {a1, d0}});
    const at::Tensor d1 = ev.data(stage, s1);
    const double base = -t * std::expm1(h);
    if (order_ == 2) {
      const double w = base / (2.0 * r1), c0 = (base - w) / s, c1 = w / s1;
      x = lincomb_into(x, {{1.0 + c0, x}, {-c0, d0}, {c1, stage}, {-c1, d1}});
      return;
    }
    const double k = -(r2 / r1) * s2 * (std::expm1(r2 * h) / (r2 * h) - 1.0);
    const double b0 = (-s2 * std::expm1(r2 * h) - k) / s, b1 = k / s1;
    stage = lincomb_into(stage, {{1.0 + b0, x}, {-b0, d0}, {b1, stage}, {-b1, d1}});  // x2 over x1
    const at::Tensor d2 = ev.data(stage, s2);
    const double w = -(1.0 / r2) * t * (std::expm1(h) / h - 1.0), c0 = (base - w) / s, c2 = w / s2;
    x = lincomb_into(x, {{1.0 + c0, x}, {-c0, d0}, {c2, stage}, {-c2, d2}});
  }

  void data_step(Evaluator& ev, at::Tensor& x, at::Tensor& stage, double s, double t, double h, double r1, double r2,
                 double s1, double s2) const {
    const at::Tensor d0 = ev.data(x, s);
    stage = lincomb_into(stage, {{s1 / s, x}, {-std::expm1(-r1 * h), d0}});
    const at::Tensor d1 = ev.data(stage, s1);
    const double base = -std::expm1(-h);
    if (order_ == 2) {
      const double w = base / (2.0 * r1);
      x = lincomb_into(x, {{t / s, x}, {base - w, d0}, {w, d1}});
      return;
    }
    const double k = (r2 / r1) * (std::expm1(-r2 * h) / (r2 * h) + 1.0);
    stage = lincomb_into(stage, {{s2 / s, x}, {-std::expm1(-r2 * h) - k, d0}, {k, d1}});
    const at::Tensor d2 = ev.data(stage, s2);
    const double w = (1.0 / r2) * (std::expm1(-h) / h + 1.0);
    x = lincomb_into(x, {{t / s, x}, {base - w, d0}, {w, d2}});
  }

  CommonOptions common_;
  int order_;
  bool data_;
};

}  // namespace

std::vector<SolverEntry> dpm_singlestep_family() {
  return {{"dpm_single",
           "singlestep DPM-Solver-2/3 (noise) or DPM-Solver++ 2S/3S (data), one outer step per grid interval",
           "Lu et al. 2022 (DPM-Solver), Lu et al. 2022 (DPM-Solver++); dpm_solver_pytorch.py singlestep updates",
           "order·(N−1) (−1 with afs)",
           "order",
           {opt::integer("order", 3, 2, 3, "2 (r = ½) or 3 (r = ⅓, ⅔), in λ"),
            opt::flag("predict_x0", false,
                      "data prediction (DPM-Solver++ 2S/3S) instead of noise prediction (DPM-Solver)")},
           [](const Options& o) { return std::make_unique<DpmSinglestepSolver>(o); }}};
}

}  // namespace dsx
