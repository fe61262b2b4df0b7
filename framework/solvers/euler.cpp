// Euler in σ on the EDM ODE = DDIM = DPM-Solver-1 (docs/solvers.md §3.1).
#include "solvers/families.h"
#include "solvers/lincomb.h"

namespace dsx {
namespace {

class EulerSolver : public Solver, public MultistepRule {
 public:
  explicit EulerSolver(const Options& o) : common_(CommonOptions::from(o)) {}

  at::Tensor sample(const Denoiser& model, at::Tensor x, const std::vector<double>& sigmas,
                    const SampleHooks& hooks) const override {
    Evaluator ev(model, common_);
    for (size_t i = 0; i + 1 < sigmas.size(); ++i) {
      const double s = sigmas[i], t = sigmas[i + 1];
      // x + (t − s)(x − D)/s = (t/s)·x + (1 − t/s)·D
      x = lincomb_into(x, {{t / s, x}, {1.0 - t / s, ev.data(x, s)}});  // in place when x is ours
      if (hooks.on_step) hooks.on_step({int(i), s, t, x});
    }
    return x;
  }
  int64_t expected_nfe(int n) const override { return (n - 1) - (common_.afs ? 1 : 0); }

  // Step-level form: x + (t − s)·ε.
  const MultistepRule* multistep_rule() const override { return this; }
  Prediction prediction() const override { return Prediction::Noise; }
  int kept() const override { return 0; }
  int order(int, int) const override { return 1; }
  StepWeights<at::Tensor> weights(const std::vector<at::Tensor>& sigma, const at::Tensor& to,
                                  const StepAt&) const override {
    return {at::ones_like(to), {to - sigma[0]}};
  }

 private:
  CommonOptions common_;
};

}  // namespace

std::vector<SolverEntry> euler_family() {
  return {{"euler",
           "Euler step in σ on the EDM ODE (= DDIM = DPM-Solver-1)",
           "Song et al. 2021 (DDIM); Karras et al. 2022",
           "N−1 (−1 with afs)",
           "1",
           {},
           [](const Options& o) { return std::make_unique<EulerSolver>(o); }}};
}

}  // namespace dsx
