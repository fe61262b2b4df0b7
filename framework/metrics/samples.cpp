#include "metrics/samples.h"

#include <ATen/ATen.h>

#include "core/error.h"

namespace dsx {

at::Tensor sample_matrix(const at::Tensor& x, const std::string& metric, int64_t min_count) {
  if (!x.defined()) fail("{}: samples are undefined", metric);
  if (x.dim() < 1) fail("{}: samples need a batch dimension [N, *shape], got a scalar", metric);
  if (x.size(0) < min_count) fail("{}: needs at least {} samples, got {}", metric, min_count, x.size(0));
  at::Tensor m = x.to(at::kCPU, at::kDouble).reshape({x.size(0), -1}).contiguous();
  if (!at::isfinite(m).all().item<bool>()) fail("{}: samples contain NaN/Inf", metric);
  return m;
}

}  // namespace dsx
