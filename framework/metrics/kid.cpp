#include "metrics/kid.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "core/error.h"

namespace dsx {
namespace {

// m distinct row indices of [0, n): the first m of a partial Fisher–Yates shuffle.
at::Tensor draw_without_replacement(int64_t n, int64_t m, std::mt19937_64& rng) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  for (int64_t i = 0; i < m; ++i) {
    std::uniform_int_distribution<int64_t> pick(i, n - 1);
    std::swap(idx[size_t(i)], idx[size_t(pick(rng))]);
  }
  idx.resize(size_t(m));
  return at::tensor(idx, at::kLong);
}

at::Tensor kernel(const at::Tensor& a, const at::Tensor& b) {
  return (at::matmul(a, b.t()) / double(a.size(1)) + 1.0).pow(3);
}

}  // namespace

double polynomial_mmd2(const at::Tensor& x_in, const at::Tensor& y_in) {
  const at::Tensor x = x_in.to(at::kCPU, at::kDouble), y = y_in.to(at::kCPU, at::kDouble);
  if (x.dim() != 2 || y.dim() != 2 || x.sizes() != y.sizes())
    fail("kid: a subset pair must be two [m, F] matrices of one shape");
  const double m = double(x.size(0));
  if (m < 2) fail("kid: a subset needs at least 2 rows");
  const at::Tensor kxx = kernel(x, x), kyy = kernel(y, y);
  // Within-set sums without the diagonal (the unbiased estimator), the cross term with it.
  const double within = (kxx.sum() - kxx.diagonal().sum() + kyy.sum() - kyy.diagonal().sum()).item<double>();
  const double cross = kernel(x, y).sum().item<double>();
  return (within / (m - 1) - 2.0 * cross / m) / m;
}

KidValue kernel_inception_distance(const at::Tensor& generated, const at::Tensor& real, const KidOptions& o) {
  if (generated.dim() != 2 || real.dim() != 2 || generated.size(1) != real.size(1))
    fail("kid: features must be [N, F] and [M, F] with one F");
  if (o.subsets < 1) fail("kid: subsets must be >= 1, got {}", o.subsets);
  if (o.subset_size < 2) fail("kid: subset_size must be >= 2, got {}", o.subset_size);
  const int64_t m = std::min({generated.size(0), real.size(0), o.subset_size});
  if (m < 2) fail("kid: needs at least 2 samples in each set, got {} and {}", generated.size(0), real.size(0));
  std::mt19937_64 rng(o.seed);
  std::vector<double> values;
  for (int64_t s = 0; s < o.subsets; ++s) {
    const at::Tensor gi = draw_without_replacement(generated.size(0), m, rng);
    const at::Tensor ri = draw_without_replacement(real.size(0), m, rng);
    values.push_back(polynomial_mmd2(generated.index_select(0, gi), real.index_select(0, ri)));
  }
  KidValue v;
  v.mean = std::accumulate(values.begin(), values.end(), 0.0) / double(values.size());
  for (double x : values) v.std += (x - v.mean) * (x - v.mean);
  v.std = std::sqrt(v.std / double(values.size()));
  return v;
}

}  // namespace dsx
