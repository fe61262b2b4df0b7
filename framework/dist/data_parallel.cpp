#include "dist/data_parallel.h"

#include <ATen/ATen.h>

#include "dist/group.h"

namespace dsx::dist {

int DataParallel::rank() const { return group ? group->rank() : 0; }
int DataParallel::size() const { return group ? group->size() : 1; }

void DataParallel::sum_gradients(const std::vector<at::Tensor>& params, std::vector<double>& scalars) const {
  if (!active()) return;
  // The gradients travel in the parameters' own dtype (float32 networks send 4 bytes a parameter); the
  // scalars (losses, squared-error sums) in float64, packed with them when the parameters are float64.
  // They stay on the parameters' device: CUDA gradients are summed by NCCL where dsx has it (group.h).
  const at::ScalarType dtype = params.empty() ? at::kDouble : params.front().scalar_type();
  const at::Device device = params.empty() ? at::Device(at::kCPU) : params.front().device();
  const auto options = at::TensorOptions().dtype(dtype).device(device);
  std::vector<at::Tensor> flat;
  for (const auto& p : params) {
    const at::Tensor g = p.grad();
    flat.push_back(g.defined() ? g.detach().reshape({-1}).to(options) : at::zeros({p.numel()}, options));
  }
  at::Tensor extra = at::tensor(scalars, at::kDouble);
  const bool packed = dtype == at::kDouble;
  if (packed) flat.push_back(extra.to(device));
  at::Tensor all = at::cat(flat).contiguous();
  group->all_reduce_sum(all);
  if (!packed && !scalars.empty()) group->all_reduce_sum(extra);
  int64_t at_ = 0;
  for (const auto& p : params) {
    const at::Tensor part = all.slice(0, at_, at_ + p.numel()).reshape(p.sizes()).to(p.options());
    at_ += p.numel();
    auto& g = const_cast<at::Tensor&>(p).mutable_grad();
    if (g.defined())
      g.copy_(part);
    else
      g = part;
  }
  const at::Tensor sums = packed ? all.slice(0, at_).cpu() : extra;
  for (size_t i = 0; i < scalars.size(); ++i) scalars[i] = sums[int64_t(i)].item<double>();
}

}  // namespace dsx::dist
