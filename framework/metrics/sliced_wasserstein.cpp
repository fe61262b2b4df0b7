#include "metrics/sliced_wasserstein.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "core/error.h"
#include "metrics/samples.h"

namespace dsx {

at::Tensor random_directions(int64_t count, int64_t dim, uint64_t seed) {
  if (count < 1 || dim < 1) fail("sliced_wasserstein: need ≥ 1 projection and dimension, got {} and {}", count, dim);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor g = at::randn({count, dim}, gen, at::TensorOptions().dtype(at::kDouble));
  return g / g.norm(2, {1}, true);  // a normalised isotropic Gaussian is uniform on the sphere
}

at::Tensor wasserstein2_squared_1d(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor sa = std::get<0>(a.sort(0)), sb = std::get<0>(b.sort(0));
  const int64_t n = sa.size(0), m = sb.size(0);
  if (n == m) return (sa - sb).square().mean(0);
  // Quantile functions are constant on (i/n, (i+1)/n] and (j/m, (j+1)/m]; on each interval of the merged
  // grid both are constant, and the interval's midpoint picks the right order statistic of each.
  at::Tensor u = std::get<0>(
      at::cat({at::arange(1, n + 1, at::kDouble) / double(n), at::arange(1, m + 1, at::kDouble) / double(m)}).sort());
  at::Tensor lo = at::cat({at::zeros({1}, at::kDouble), u.slice(0, 0, -1)});
  at::Tensor width = u - lo, mid = 0.5 * (u + lo);
  at::Tensor ia = (mid * double(n)).floor().to(at::kLong).clamp(0, n - 1);
  at::Tensor ib = (mid * double(m)).floor().to(at::kLong).clamp(0, m - 1);
  return ((sa.index_select(0, ia) - sb.index_select(0, ib)).square() * width.unsqueeze(1)).sum(0);
}

double sliced_wasserstein(const at::Tensor& samples, const at::Tensor& reference, const at::Tensor& directions) {
  at::Tensor x = sample_matrix(samples, "sliced_wasserstein"), y = sample_matrix(reference, "sliced_wasserstein");
  at::Tensor theta = directions.to(at::kCPU, at::kDouble);
  if (x.size(1) != y.size(1) || theta.dim() != 2 || theta.size(1) != x.size(1))
    fail("sliced_wasserstein: dimensions differ (samples {}, reference {}, directions {})", x.size(1), y.size(1),
         theta.dim() == 2 ? theta.size(1) : -1);
  at::Tensor w2 = wasserstein2_squared_1d(at::matmul(x, theta.t()), at::matmul(y, theta.t()));
  return std::sqrt(w2.mean().item<double>());
}

double sliced_wasserstein(const at::Tensor& samples, const at::Tensor& reference, int64_t projections, uint64_t seed) {
  at::Tensor x = sample_matrix(samples, "sliced_wasserstein");
  return sliced_wasserstein(x, reference, random_directions(projections, x.size(1), seed));
}

}  // namespace dsx
