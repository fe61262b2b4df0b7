#pragma once
// Step-level solvers. A `StepRun` advances one trajectory interval by interval on σ values that may differ
// per sample, with plain (differentiable) torch arithmetic; the caller evaluates the model:
//
//   run = solver.step_run(points);  for each interval: x = run.step(x, D(x, from), from, to)
//
// The linear multistep solvers (Euler, iPNDM, iPNDM_v, DPM-Solver(++) multistep, DEIS tAB, SciRE multistep)
// share one run, `MultistepRun`, driven by their weight rule (Solver::multistep_rule()):
//
//   x_next = a·x + Σ_k b_k·m_k,   m_0 = the model output at the step's start, m_1, m_2, … earlier ones
//
// in the solver's native prediction (data D or noise ε = (x − D)/σ). UniPC, a predictor–corrector, has its
// own run (solvers/unipc.h). Each solver's fused sampling loop evaluates the same weight formula with host
// doubles, so the two paths share one definition of the method (tests/solvers checks they agree). This is
// what the AMED-Plugin runs its base solvers with (docs/amed.md §5.3), and what a schedule search can drive
// one interval at a time.
#include <vector>

#include <ATen/ATen.h>

namespace dsx {

// The order schedule of the multistep methods here (diff-sampler's rule; UniPC and SciRE use the same):
// step k = 1, 2, … of a `points`-point grid uses k while k < max_order (warm start), then max_order, or with
// lower_order_final min(max_order, points − k) so the last steps use only the points left.
inline int multistep_order(int k, int points, int max_order, bool lower_order_final) {
  if (k < max_order) return k;
  return lower_order_final ? (points - k < max_order ? points - k : max_order) : max_order;
}

enum class Prediction { Data, Noise };  // what the history holds: D, or ε = (x − D)/σ

// Where a step sits: step k = 1, 2, … of a `points`-point grid, taken with order `order`.
struct StepAt {
  int k, points, order;
};

template <class T>
struct StepWeights {
  T a;               // on x
  std::vector<T> b;  // on m_0, m_1, …
};

class MultistepRule {
 public:
  virtual ~MultistepRule() = default;
  virtual Prediction prediction() const = 0;
  // Earlier outputs a step may use (max_order − 1); the run keeps no more.
  virtual int kept() const = 0;
  // Order of step k = 1, 2, … on a grid of `points` points (warm start, lowered final orders).
  virtual int order(int k, int points) const = 0;
  // Weights of the update to σ `to` at step `at` (order at.order); sigma = σ of m_0, m_1, … (newest first, at
  // least at.order of them). All per sample [B].
  virtual StepWeights<at::Tensor> weights(const std::vector<at::Tensor>& sigma, const at::Tensor& to,
                                          const StepAt& at) const = 0;
};

// One trajectory of a step-level solver, created for a grid of `points` points (the size its order schedule
// sees; AMED: its refined grid of 2N − 1 points). reset() starts a new trajectory.
class StepRun {
 public:
  virtual ~StepRun() = default;
  virtual void reset() = 0;
  // x at σ `from` → σ `to` (per sample [B]) given `den` = the model's data prediction at x. `scale` ([B],
  // optional) multiplies every model-output term of the step (AMED's c); the x term stays.
  virtual at::Tensor step(const at::Tensor& x, const at::Tensor& den, const at::Tensor& from, const at::Tensor& to,
                          const at::Tensor& scale = {}) = 0;
  virtual int steps_done() const = 0;
  // Whether steps depend on earlier ones (then they must come in order from the first).
  virtual bool keeps_history() const = 0;
  // Whether the last step left a correction that needs the model at the point it returned (UniPC correcting
  // a final warm-up step): then finish(x, D(x, σ_last)) gives the result.
  virtual bool pending() const { return false; }
  virtual at::Tensor finish(const at::Tensor& x, const at::Tensor& den);
  // Whether values carried into later steps (history, pending weights) keep their autograd graph. Off (the
  // default), gradients stay within one step, as AMED trains; on, the whole trajectory is differentiable in
  // its σ values and inputs, as a schedule learned end to end needs (learned/ld3.h).
  void keep_graph(bool on) { keep_graph_ = on; }

 protected:
  at::Tensor carried(const at::Tensor& t) const { return keep_graph_ || !t.defined() ? t : t.detach(); }

 private:
  bool keep_graph_ = false;
};

// The run of a linear multistep rule.
class MultistepRun : public StepRun {
 public:
  MultistepRun(const MultistepRule& rule, int points) : rule_(rule), points_(points) {}
  void reset() override;
  at::Tensor step(const at::Tensor& x, const at::Tensor& den, const at::Tensor& from, const at::Tensor& to,
                  const at::Tensor& scale = {}) override;
  int steps_done() const override { return k_; }
  bool keeps_history() const override { return rule_.kept() > 0; }

 private:
  const MultistepRule& rule_;
  int points_;
  int k_ = 0;
  std::vector<at::Tensor> m_, sigma_;  // earlier outputs and their σ, newest first (carried())
};

}  // namespace dsx
