#pragma once
// Shared input handling for the metrics: every metric sees samples as a float64 CPU matrix [N, D], so
// results do not depend on the dtype or device the samples were produced in.
#include <string>

#include <ATen/core/Tensor.h>

namespace dsx {

// [N, *shape] (any dtype/device) -> contiguous float64 CPU [N, D]. Fails, naming `metric`, when the
// tensor is undefined, has no batch dimension, has fewer than `min_count` rows or holds NaN/Inf.
at::Tensor sample_matrix(const at::Tensor& x, const std::string& metric, int64_t min_count = 1);

}  // namespace dsx
