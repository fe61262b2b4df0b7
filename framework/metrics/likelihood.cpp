#include "metrics/likelihood.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/error.h"
#include "metrics/samples.h"
#include "models/diagonal_gaussian.h"
#include "models/gaussian_mixture.h"

namespace dsx {
namespace {

at::Tensor checked_samples(const at::Tensor& samples, int64_t dim) {
  at::Tensor x = sample_matrix(samples, "log_likelihood");
  if (x.size(1) != dim) fail("log_likelihood: samples have {} values each, the model {}", x.size(1), dim);
  return x;
}

LogLikelihood summarise(const at::Tensor& logp, int64_t dim) {
  double total = logp.mean().item<double>();
  return {total, total / double(dim)};
}

}  // namespace

at::Tensor log_density(const GaussianMixture& model, const at::Tensor& samples) {
  const int64_t k = model.num_components(), d = model.dim();
  at::Tensor x = checked_samples(samples, d);
  at::Tensor mu = model.means().to(at::kCPU, at::kDouble), s = model.stds().to(at::kCPU, at::kDouble);
  at::Tensor logw = model.weights().to(at::kCPU, at::kDouble).log();
  if (!(s > 0).all().item<bool>()) fail("log_likelihood: the mixture has a component with std 0 (no density)");
  // Direct differences per component, not |x|² − 2x·μ + |μ|², which cancels for samples near a mean.
  at::Tensor d2 = at::empty({x.size(0), k}, at::kDouble);
  for (int64_t j = 0; j < k; ++j) d2.select(1, j).copy_((x - mu[j]).square().sum(1));
  at::Tensor v = s.square().unsqueeze(0);  // [1, K]
  at::Tensor logits = logw.unsqueeze(0) - 0.5 * double(d) * at::log(2 * M_PI * v) - d2 / (2 * v);
  return at::logsumexp(logits, {1});
}

at::Tensor log_density(const DiagonalGaussian& model, const at::Tensor& samples) {
  at::Tensor mu = model.mean().to(at::kCPU, at::kDouble).reshape({1, -1});
  at::Tensor s = model.std().to(at::kCPU, at::kDouble).reshape({1, -1});
  at::Tensor x = checked_samples(samples, mu.size(1));
  if (!(s > 0).all().item<bool>()) fail("log_likelihood: the Gaussian has an element with std 0 (no density)");
  return (-0.5 * at::log(2 * M_PI * s.square()) - (x - mu).square() / (2 * s.square())).sum(1);
}

LogLikelihood log_likelihood(const GaussianMixture& model, const at::Tensor& samples) {
  return summarise(log_density(model, samples), model.dim());
}

LogLikelihood log_likelihood(const DiagonalGaussian& model, const at::Tensor& samples) {
  return summarise(log_density(model, samples), model.mean().numel());
}

}  // namespace dsx
