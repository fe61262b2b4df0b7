#pragma once
// Exact data log-likelihood of samples under a model with a density (the Density capability of the
// analytic testbeds): how well a sampler's outputs land on the true data distribution, without a feature
// network. Natural log (nats).
#include <ATen/core/Tensor.h>

namespace dsx {

class Density;

struct LogLikelihood {
  double total = 0;    // mean over samples of log p(x), nats
  double per_dim = 0;  // total / D
};

// log p(x) per sample, [N] float64 (samples checked: a batch dimension, finite values).
at::Tensor log_density(const Density& model, const at::Tensor& samples);
LogLikelihood log_likelihood(const Density& model, const at::Tensor& samples);

}  // namespace dsx
