#pragma once
// Fréchet distance between Gaussian fits of two sample sets (the FID formula):
//   FD = |μ1 − μ2|² + tr(Σ1 + Σ2 − 2 (Σ1^½ Σ2 Σ1^½)^½).
// Computed with two symmetric eigendecompositions in float64 (no complex sqrtm), so rank-deficient
// covariances (N ≤ D) are handled: eigenvalues below D·ε·λ_max are round-off and are set to zero before the
// square root, instead of turning into spurious √ε-sized contributions.
#include <cstdint>
#include <functional>

#include <ATen/core/Tensor.h>

namespace dsx {

struct GaussianFit {
  at::Tensor mean;  // [D] float64
  at::Tensor cov;   // [D, D] float64, unbiased (N − 1)
};

// Sample mean and unbiased covariance of [N, *shape] samples (N ≥ 2).
GaussianFit fit_gaussian(const at::Tensor& samples);
// FD between two Gaussians given by their moments (exact moments give the closed form).
double frechet_distance(const GaussianFit& a, const GaussianFit& b);
// FD between the Gaussian fits of two sample sets [N, *shape] and [M, *shape].
double frechet_distance(const at::Tensor& samples, const at::Tensor& reference);

// Feature-space variant ("FID with a small classifier"): features are precomputed [N, F] matrices; the
// strict 2-D shape catches passing raw images by mistake.
double frechet_feature_distance(const at::Tensor& features, const at::Tensor& reference_features);
// Same, extracting features batch by batch (bounded memory for large N); extractor maps [B, *shape] to
// [B, F].
using FeatureExtractor = std::function<at::Tensor(const at::Tensor& batch)>;
double frechet_feature_distance(const at::Tensor& samples, const at::Tensor& reference,
                                const FeatureExtractor& extractor, int64_t batch_size = 256);

// tr((A^½ B A^½)^½) for symmetric PSD A, B: the cross term, exposed for tests.
double trace_sqrt_product(const at::Tensor& a, const at::Tensor& b);

}  // namespace dsx
