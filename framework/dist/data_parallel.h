#pragma once
// Data-parallel training over a multi-process run: the spec's batch is the global batch whatever the
// number of ranks. Each rank takes a contiguous part of it, backpropagates its part of the global mean
// (its rows' sum divided by the global batch), and the gradients are summed over the ranks in one
// all-reduce before the (identical) optimizer step on every rank. The sum equals the one-process gradient
// up to the order of the floating-point additions: predictors agree to rounding, not bit for bit.
#include <cstdint>
#include <utility>
#include <vector>

namespace at {
class Tensor;
}

namespace dsx::dist {

class Group;

struct DataParallel {
  Group* group = nullptr;  // null: one process
  int rank() const;
  int size() const;
  bool active() const { return size() > 1; }
  // This rank's rows [first, last) of a global batch of n rows.
  std::pair<int64_t, int64_t> share(int64_t n) const { return {n * rank() / size(), n * (rank() + 1) / size()}; }
  // Sums every parameter's gradient (undefined: zeros) and `scalars` over the ranks, in place, in one
  // all-reduce. Nothing for one process.
  void sum_gradients(const std::vector<at::Tensor>& params, std::vector<double>& scalars) const;
  // Sums `scalars` over the ranks, in place (counts, losses). Nothing for one process.
  void sum(std::vector<double>& scalars) const { sum_gradients({}, scalars); }
};

}  // namespace dsx::dist
