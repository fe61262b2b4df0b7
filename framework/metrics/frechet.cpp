#include "metrics/frechet.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "metrics/samples.h"

namespace dsx {
namespace {

// Eigenvalues of a symmetric PSD matrix with round-off removed: anything below D·ε·λ_max (including the
// tiny negative values eigh returns for singular matrices) is zero.
at::Tensor clean_eigenvalues(const at::Tensor& l) {
  double lmax = std::max(l.abs().max().item<double>(), 0.0);
  double tol = double(l.size(0)) * std::numeric_limits<double>::epsilon() * lmax;
  return at::where(l > tol, l, at::zeros_like(l));
}

at::Tensor symmetric(const at::Tensor& m) { return 0.5 * (m + m.t()); }

at::Tensor psd_sqrt(const at::Tensor& m) {
  auto [l, v] = at::linalg_eigh(symmetric(m));
  return at::matmul(v * clean_eigenvalues(l).sqrt().unsqueeze(0), v.t());
}

void check_fit(const GaussianFit& g, const char* which) {
  if (!g.mean.defined() || !g.cov.defined() || g.mean.dim() != 1 || g.cov.dim() != 2 ||
      g.cov.size(0) != g.mean.size(0) || g.cov.size(1) != g.mean.size(0))
    fail("frechet: {} moments must be mean [D] and cov [D, D]", which);
}

}  // namespace

GaussianFit fit_gaussian(const at::Tensor& samples) {
  at::Tensor x = sample_matrix(samples, "frechet", 2);  // a covariance needs two samples
  at::Tensor mean = x.mean(0);
  at::Tensor c = x - mean;
  return {mean, at::matmul(c.t(), c) / double(x.size(0) - 1)};
}

double trace_sqrt_product(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor s = psd_sqrt(a.to(at::kCPU, at::kDouble));
  at::Tensor m = at::matmul(at::matmul(s, b.to(at::kCPU, at::kDouble)), s);
  return clean_eigenvalues(at::linalg_eigvalsh(symmetric(m))).sqrt().sum().item<double>();
}

double frechet_distance(const GaussianFit& a, const GaussianFit& b) {
  check_fit(a, "first");
  check_fit(b, "second");
  if (a.mean.size(0) != b.mean.size(0)) fail("frechet: dimensions differ ({} vs {})", a.mean.size(0), b.mean.size(0));
  at::Tensor ma = a.mean.to(at::kCPU, at::kDouble), mb = b.mean.to(at::kCPU, at::kDouble);
  at::Tensor ca = a.cov.to(at::kCPU, at::kDouble), cb = b.cov.to(at::kCPU, at::kDouble);
  double fd = (ma - mb).square().sum().item<double>() + ca.trace().item<double>() + cb.trace().item<double>() -
              2.0 * trace_sqrt_product(ca, cb);
  return std::max(fd, 0.0);  // a true distance² is ≥ 0; tiny negatives are round-off
}

double frechet_distance(const at::Tensor& samples, const at::Tensor& reference) {
  return frechet_distance(fit_gaussian(samples), fit_gaussian(reference));
}

double frechet_feature_distance(const at::Tensor& features, const at::Tensor& reference_features) {
  if (features.dim() != 2 || reference_features.dim() != 2)
    fail("frechet_features: features must be [N, F] matrices, got {} and {} dimension(s)", features.dim(),
         reference_features.dim());
  return frechet_distance(features, reference_features);
}

double frechet_feature_distance(const at::Tensor& samples, const at::Tensor& reference,
                                const FeatureExtractor& extractor, int64_t batch_size) {
  if (batch_size < 1) fail("frechet_features: batch_size must be >= 1, got {}", batch_size);
  auto extract = [&](const at::Tensor& x) {
    if (!x.defined() || x.dim() < 1 || x.size(0) < 2) fail("frechet_features: needs at least 2 samples");
    std::vector<at::Tensor> parts;
    for (int64_t i = 0; i < x.size(0); i += batch_size)
      parts.push_back(extractor(x.slice(0, i, std::min(i + batch_size, x.size(0)))).to(at::kCPU, at::kDouble));
    return at::cat(parts, 0);
  };
  return frechet_feature_distance(extract(samples), extract(reference));
}

}  // namespace dsx
