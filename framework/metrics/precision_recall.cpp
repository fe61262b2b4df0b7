#include "metrics/precision_recall.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/error.h"

namespace dsx {
namespace {

at::Tensor as_matrix(const at::Tensor& x, const char* which) {
  if (!x.defined() || x.dim() != 2) fail("precision/recall: {} features must be an [N, F] matrix", which);
  return x.to(at::kCPU, at::kDouble).contiguous();
}

// Euclidean distances of rows [first, first + count) of a to every row of b.
at::Tensor block_distances(const at::Tensor& a, int64_t first, int64_t count, const at::Tensor& b) {
  return at::cdist(a.narrow(0, first, count), b);
}

}  // namespace

at::Tensor knn_radii(const at::Tensor& x_in, int64_t k, int64_t block) {
  const at::Tensor x = as_matrix(x_in, "the");
  if (k < 1 || k >= x.size(0)) fail("precision/recall: k = {} needs 1 <= k < N = {}", k, x.size(0));
  std::vector<at::Tensor> parts;
  for (int64_t i = 0; i < x.size(0); i += block) {
    const int64_t n = std::min(block, x.size(0) - i);
    // k + 1: the smallest distance is the point's own zero.
    parts.push_back(std::get<0>(block_distances(x, i, n, x).kthvalue(k + 1, 1)));
  }
  return at::cat(parts);
}

double manifold_coverage(const at::Tensor& points_in, const at::Tensor& centres_in, const at::Tensor& radii,
                         int64_t block) {
  const at::Tensor p = as_matrix(points_in, "the"), c = as_matrix(centres_in, "the");
  const at::Tensor r = radii.to(at::kCPU, at::kDouble).unsqueeze(0);
  int64_t inside = 0;
  for (int64_t i = 0; i < p.size(0); i += block) {
    const int64_t n = std::min(block, p.size(0) - i);
    inside += (block_distances(p, i, n, c) <= r).any(1).sum().item<int64_t>();
  }
  return double(inside) / double(p.size(0));
}

PrecisionRecall precision_recall(const at::Tensor& generated, const at::Tensor& real, int64_t k, int64_t block) {
  const at::Tensor g = as_matrix(generated, "generated"), r = as_matrix(real, "real");
  if (g.size(1) != r.size(1)) fail("precision/recall: feature dimensions differ ({} vs {})", g.size(1), r.size(1));
  if (block < 1) fail("precision/recall: block must be >= 1");
  PrecisionRecall pr;
  pr.precision = manifold_coverage(g, r, knn_radii(r, k, block), block);
  pr.recall = manifold_coverage(r, g, knn_radii(g, k, block), block);
  return pr;
}

}  // namespace dsx
