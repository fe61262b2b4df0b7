#pragma once
// Per-sample seeded Gaussian noise: sample i is drawn from its own CPU generator seeded with seeds[i],
// in float64, then cast and moved. The same seed gives the same z whatever the batch, shard, dtype
// request or device.
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

namespace dsx {

at::Tensor seeded_noise(const std::vector<int64_t>& seeds, at::IntArrayRef sample_shape,
                        at::TensorOptions options = at::TensorOptions().dtype(at::kFloat));

}  // namespace dsx
