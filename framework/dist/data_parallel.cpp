#include "dist/data_parallel.h"

#include <ATen/ATen.h>

#include "dist/group.h"

namespace dsx::dist {

int DataParallel::rank() const { return group ? group->rank() : 0; }
int DataParallel::size() const { return group ? group->size() : 1; }

void DataParallel::sum_gradients(const std::vector<at::Tensor>& params, std::vector<double>& scalars) const {
  if (!active()) return;
  std::vector<at::Tensor> flat;
  for (const auto& p : params) {
    const at::Tensor g = p.grad();
    flat.push_back(g.defined() ? g.detach().reshape({-1}).to(at::kDouble) : at::zeros({p.numel()}, at::kDouble));
  }
  flat.push_back(at::tensor(scalars, at::kDouble));
  at::Tensor all = at::cat(flat).cpu().contiguous();  // Gloo reduces CPU tensors
  group->all_reduce_sum(all);
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
  for (size_t i = 0; i < scalars.size(); ++i) scalars[i] = all[at_ + int64_t(i)].item<double>();
}

}  // namespace dsx::dist
