#pragma once
// The training loop the end-to-end learners share (learn_schedule's LD3 grids, train_epd's EPD solvers): a few
// parameters fitted with Adam so that a sampler's final state matches teacher end points, the best iterate kept
// by its error on held-out trajectories.
//
//   loss = mean over samples and elements of (forward(x_T) − target)²        (rmse_to_reference²)
//
// The training rows come in a shuffled order per epoch (a fixed seed); every `validate_every` steps and at the
// end, the RMSE on the last `validation` rows (held out) is measured and `keep` is called when it is the best
// so far (it is also called before training, for the starting point).
#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/ATen.h>

#include "dist/data_parallel.h"

namespace dsx {

struct FitSettings {
  int64_t iterations = 400;  // Adam steps
  int64_t batch = 128;
  double lr = 0.01;
  int64_t validation = 256;  // the last rows, held out: they choose the best iterate
  int64_t validate_every = 10;
  uint64_t shuffle_seed = 0;
};

struct FitProgress {
  int64_t iteration;
  double train_rmse;       // of this iteration's batch, before its update
  double validation_rmse;  // at this validation point
};

struct FitResult {
  double init_rmse = 0;  // validation error of the starting point
  double best_rmse = 0;  // validation error of the kept iterate
  int64_t best_iteration = 0;
  std::vector<FitProgress> history;  // the validation points
};

using Forward = std::function<at::Tensor(const at::Tensor& x_T)>;

// x_T, target: [N, *shape] in the dtype forward() expects; params: leaf tensors with requires_grad. With `dp`
// active (every rank of a multi-process run calls it) each rank takes its part of every batch and of the
// held-out rows; gradients and squared errors are summed over the ranks, so every rank takes the same steps
// and keeps the same iterate (one process's, to the rounding of the sums).
FitResult fit_endpoints(const FitSettings& s, const std::vector<at::Tensor>& params, const Forward& forward,
                        const at::Tensor& x_T, const at::Tensor& target, const std::function<void()>& keep,
                        const std::function<void(const FitProgress&)>& progress = {},
                        const dist::DataParallel& dp = {});

}  // namespace dsx
