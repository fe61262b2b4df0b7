#include "core/noise.h"

#include <ATen/CPUGeneratorImpl.h>

namespace dsx {

at::Tensor seeded_noise(const std::vector<int64_t>& seeds, at::IntArrayRef sample_shape, at::TensorOptions options) {
  std::vector<int64_t> shape{int64_t(seeds.size())};
  shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
  at::Tensor out = at::empty(shape, at::TensorOptions().dtype(at::kDouble));
  for (size_t i = 0; i < seeds.size(); ++i) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(uint64_t(seeds[i]));
    out[int64_t(i)].copy_(at::randn(sample_shape, gen, at::TensorOptions().dtype(at::kDouble)));
  }
  return out.to(options);
}

}  // namespace dsx
