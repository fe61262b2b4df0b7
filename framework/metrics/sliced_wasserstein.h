#pragma once
// Sliced Wasserstein-2 distance: SW2 = ( mean over P unit directions θ of W2²(θ·X, θ·Y) )^½, with the
// directions drawn from one seeded CPU generator, so the value is a deterministic function of (X, Y, P,
// seed). 1-D W2 between empirical distributions is exact: sorted projections paired for equal counts,
// and for unequal counts the integral of the squared difference of the two step quantile functions over
// their merged breakpoints {i/N} ∪ {j/M} (equal to pairing when N = M).
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace dsx {

// P directions uniform on the unit sphere in R^D: [P, D] float64 (normalised Gaussians from `seed`).
at::Tensor random_directions(int64_t count, int64_t dim, uint64_t seed);

// SW2 between [N, *shape] and [M, *shape] samples (any N, M ≥ 1).
double sliced_wasserstein(const at::Tensor& samples, const at::Tensor& reference, int64_t projections = 256,
                          uint64_t seed = 0);
// Same with explicit directions [P, D] (rows need not be unit: the caller's choice).
double sliced_wasserstein(const at::Tensor& samples, const at::Tensor& reference, const at::Tensor& directions);

// Exact squared W2 between 1-D empirical distributions, column-wise: a [N, P], b [M, P] -> [P].
at::Tensor wasserstein2_squared_1d(const at::Tensor& a, const at::Tensor& b);

}  // namespace dsx
