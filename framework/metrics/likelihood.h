#pragma once
// Exact data log-likelihood of samples under the analytic testbeds: how well a sampler's outputs land on
// the true data distribution, without a feature network. Natural log (nats).
#include <ATen/core/Tensor.h>

namespace dsx {

class GaussianMixture;
class DiagonalGaussian;

struct LogLikelihood {
  double total = 0;    // mean over samples of log p(x), nats
  double per_dim = 0;  // total / D
};

// log p(x) per sample, [N] float64: log Σ_k w_k N(x; μ_k, s_k² I), evaluated with log-sum-exp. Components
// with s_k = 0 (the "empirical" mixture) have no density: that is an error, not −inf.
at::Tensor log_density(const GaussianMixture& model, const at::Tensor& samples);
// log p(x) per sample under N(μ, diag(s²)), [N] float64.
at::Tensor log_density(const DiagonalGaussian& model, const at::Tensor& samples);

LogLikelihood log_likelihood(const GaussianMixture& model, const at::Tensor& samples);
LogLikelihood log_likelihood(const DiagonalGaussian& model, const at::Tensor& samples);

}  // namespace dsx
