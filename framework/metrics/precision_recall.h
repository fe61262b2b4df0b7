#pragma once
// Improved precision and recall (Kynkäänniemi et al. 2019; StyleGAN3 metrics/precision_recall.py): each set
// is a union of balls around its points, each ball's radius the distance to the point's k-th nearest
// neighbour in its own set. Precision = share of generated points inside the real manifold; recall = share
// of real points inside the generated manifold. Distances are computed in row blocks (float64), so memory
// is block × N, not N².
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace dsx {

struct PrecisionRecall {
  double precision = 0, recall = 0;
};

PrecisionRecall precision_recall(const at::Tensor& generated, const at::Tensor& real, int64_t k = 3,
                                 int64_t block = 1024);

// Distance of every row of x [N, F] to its k-th nearest other row (the point itself not counted).
at::Tensor knn_radii(const at::Tensor& x, int64_t k, int64_t block = 1024);

// Share of the rows of `points` within the radius of at least one row of `centres`.
double manifold_coverage(const at::Tensor& points, const at::Tensor& centres, const at::Tensor& radii,
                         int64_t block = 1024);

}  // namespace dsx
