#pragma once
// Step-level form of the linear multistep solvers (Euler, iPNDM, iPNDM_v, DPM-Solver(++) multistep, DEIS tAB):
//
//   x_next = a·x + Σ_k b_k·m_k,   m_0 = the model output at the step's start, m_1, m_2, … earlier ones
//
// in the solver's native prediction (data D or noise ε = (x − D)/σ). A solver with this form exposes its
// weight rule through Solver::multistep_rule(); `MultistepRun` advances one trajectory step by step on σ
// values that may differ per sample, with plain (differentiable) torch arithmetic. The solver's own fused
// sampling loop evaluates the same weight formula with host doubles, so the two paths share one definition
// of the method (tests/solvers checks they agree). This is what the AMED-Plugin runs its base solvers with
// (docs/amed.md §5.3), and what a schedule search can drive one interval at a time.
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
  // Weights of the order-`order` update to σ `to`; sigma = σ of m_0, m_1, … (newest first, at least `order`
  // of them). All per sample [B].
  virtual StepWeights<at::Tensor> weights(const std::vector<at::Tensor>& sigma, const at::Tensor& to,
                                          int order) const = 0;
};

// One trajectory of a rule: init(points) → state, then step() once per interval in order.
class MultistepRun {
 public:
  // points: the grid size the rule's order schedule sees (AMED: its refined grid of 2N − 1 points).
  MultistepRun(const MultistepRule& rule, int points) : rule_(rule), points_(points) {}
  // Clears the history (a new trajectory).
  void reset();
  // x at σ `from` → σ `to` (per sample [B]) given `den` = the model's data prediction for x. `scale` ([B],
  // optional) multiplies every model-output term (AMED's c), the x term stays.
  at::Tensor step(const at::Tensor& x, const at::Tensor& den, const at::Tensor& from, const at::Tensor& to,
                  const at::Tensor& scale = {});
  int steps_done() const { return k_; }

 private:
  const MultistepRule& rule_;
  int points_;
  int k_ = 0;
  std::vector<at::Tensor> m_, sigma_;  // earlier outputs and their σ, newest first; detached
};

}  // namespace dsx
