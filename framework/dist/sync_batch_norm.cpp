#include "dist/sync_batch_norm.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/nn/modules/batchnorm.h>

#include "core/error.h"
#include "dist/group.h"

namespace dsx::dist {
namespace {

// y = Σ_ranks x. Rank r's loss L_r reaches x_r through y on every rank, so ∂(Σ L)/∂x_r = Σ_ranks ∂L/∂y: the
// backward is the same all-reduce. The ranks' autograd engines run the same graph in the same order, so
// their backward all-reduces pair up.
struct AllReduceSum : torch::autograd::Function<AllReduceSum> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, Group* group) {
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(group);
    at::Tensor y = x.detach().clone(at::MemoryFormat::Contiguous);
    group->all_reduce_sum(y);
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto* group = reinterpret_cast<Group*>(ctx->saved_data["group"].toInt());
    at::Tensor g = grads[0].clone(at::MemoryFormat::Contiguous);
    group->all_reduce_sum(g);
    return {g, at::Tensor()};
  }
};

}  // namespace

at::Tensor sync_batch_norm(const at::Tensor& x, torch::nn::BatchNorm2dImpl& bn, const DataParallel& dp) {
  if (!dp.active() || !bn.is_training()) return bn.forward(x);
  const auto& o = bn.options;
  if (!o.momentum() || !o.track_running_stats())
    fail("sync_batch_norm: needs a momentum and running statistics (the classifier's BatchNorm has both)");
  const int64_t channels = x.size(1);
  const std::vector<int64_t> reduce = {0, 2, 3};
  const auto shape = [&](const at::Tensor& c) { return c.reshape({1, channels, 1, 1}); };
  // The row count travels with the first sums: ranks may hold different numbers of rows.
  const at::Tensor local = at::cat({x.sum(reduce), at::full({1}, double(x.numel() / channels), x.options())});
  const at::Tensor total = AllReduceSum::apply(local, dp.group);
  const double n = total[channels].item<double>();
  if (n < 2) fail("sync_batch_norm: the global batch has {} value(s) per channel; BatchNorm needs 2", n);
  const at::Tensor mean = total.narrow(0, 0, channels) / n;
  const at::Tensor centered = x - shape(mean);
  const at::Tensor var = AllReduceSum::apply(centered.square().sum(reduce), dp.group) / n;
  at::Tensor y = centered * shape((var + o.eps()).rsqrt());
  if (o.affine()) y = y * shape(bn.weight) + shape(bn.bias);
  {
    at::NoGradGuard no_grad;
    const double m = *o.momentum();
    bn.running_mean.mul_(1 - m).add_(mean.detach(), m);
    bn.running_var.mul_(1 - m).add_(var.detach() * (n / (n - 1)), m);
    bn.num_batches_tracked.add_(1);
  }
  return y;
}

}  // namespace dsx::dist
