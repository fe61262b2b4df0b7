#pragma once
// BatchNorm over the global batch of a data-parallel step (what PyTorch's SyncBatchNorm does): each rank
// holds part of the batch, but the normalisation must use the whole batch's mean and variance, or the
// ranks train a different network than one process does. The per-channel sums travel through an all-reduce
// that is itself differentiable (its backward all-reduces the gradient), so the input gradient also sees the
// whole batch:
//
//   rank r:  x_r ─ Σ ─┐                  ┌─ (x_r − μ) / √(σ² + ε) · γ + β
//                     all-reduce → μ ─ Σ(x_r − μ)² ─ all-reduce → σ²   (two passes, like at::batch_norm)
//
// Running statistics follow BatchNorm's update (momentum, unbiased variance) on every rank alike.
#include "dist/data_parallel.h"

namespace torch::nn {
class BatchNorm2dImpl;
}

namespace dsx::dist {

// Training mode over several ranks: the global batch's statistics. Otherwise (evaluation, one process):
// exactly bn.forward(x). Every rank calls it in the same order, including ranks that hold zero rows.
at::Tensor sync_batch_norm(const at::Tensor& x, torch::nn::BatchNorm2dImpl& bn, const DataParallel& dp);

}  // namespace dsx::dist
