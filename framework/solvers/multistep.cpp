#include "solvers/multistep.h"

#include "core/error.h"
#include "models/denoiser.h"

namespace dsx {

at::Tensor StepRun::finish(const at::Tensor&, const at::Tensor&) {
  fail("step-level run: finish() without a pending correction");
}

void MultistepRun::reset() {
  k_ = 0;
  m_.clear();
  sigma_.clear();
}

at::Tensor MultistepRun::step(const at::Tensor& x, const at::Tensor& den, const at::Tensor& from, const at::Tensor& to,
                              const at::Tensor& scale) {
  ++k_;
  const at::Tensor m0 = rule_.prediction() == Prediction::Data ? den : (x - den) / per_sample(from, x);
  const int order = rule_.order(k_, points_);
  if (order < 1 || order > int(m_.size()) + 1)
    fail("multistep: step {} needs order {} with {} earlier outputs", k_, order, m_.size());
  std::vector<at::Tensor> sigma = {from};
  sigma.insert(sigma.end(), sigma_.begin(), sigma_.end());
  const StepWeights<at::Tensor> w = rule_.weights(sigma, to, {k_, points_, order});
  at::Tensor incr = per_sample(w.b[0], x) * m0;
  for (size_t j = 1; j < w.b.size(); ++j) incr = incr + per_sample(w.b[j], x) * m_[j - 1];
  if (scale.defined()) incr = per_sample(scale, x) * incr;
  at::Tensor x_next = per_sample(w.a, x) * x + incr;
  m_.insert(m_.begin(), carried(m0));
  sigma_.insert(sigma_.begin(), carried(from));
  if (int(m_.size()) > rule_.kept()) {
    m_.resize(size_t(rule_.kept()));
    sigma_.resize(size_t(rule_.kept()));
  }
  return x_next;
}

}  // namespace dsx
