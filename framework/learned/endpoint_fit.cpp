#include "learned/endpoint_fit.h"

#include <torch/optim/adam.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"

namespace dsx {
namespace {

double rmse(const at::Tensor& a, const at::Tensor& b) { return std::sqrt((a - b).square().mean().item<double>()); }

// Rows of the training set, epoch after epoch, each epoch in a fresh order.
class BatchOrder {
 public:
  BatchOrder(int64_t rows, uint64_t seed) : order_(size_t(rows)), rng_(seed) {
    std::iota(order_.begin(), order_.end(), 0);
  }
  at::Tensor next(int64_t count) {
    std::vector<int64_t> out;
    while (int64_t(out.size()) < count) {
      if (at_ == 0) std::shuffle(order_.begin(), order_.end(), rng_);
      out.push_back(order_[at_]);
      at_ = (at_ + 1) % order_.size();
    }
    return at::tensor(out, at::kLong);
  }

 private:
  std::vector<int64_t> order_;
  std::mt19937_64 rng_;
  size_t at_ = 0;
};

}  // namespace

FitResult fit_endpoints(const FitSettings& s, const std::vector<at::Tensor>& params, const Forward& forward,
                        const at::Tensor& x_T, const at::Tensor& target, const std::function<void()>& keep,
                        const std::function<void(const FitProgress&)>& progress, const dist::DataParallel& dp) {
  const int64_t total = x_T.size(0), held = s.validation, train = total - held;
  if (held < 1 || train < 1)
    fail("{} teacher trajectories cannot give validation = {} and at least one for training", total, held);
  if (s.iterations < 0 || s.batch < 1 || !(s.lr > 0) || s.validate_every < 1)
    fail("iterations >= 0, batch >= 1, lr > 0 and validate_every >= 1 are required");
  torch::optim::Adam adam(params, torch::optim::AdamOptions(s.lr));
  const at::Tensor train_x = x_T.slice(0, 0, train), train_y = target.slice(0, 0, train);
  const at::Tensor val_x = x_T.slice(0, train), val_y = target.slice(0, train);
  const double per_row = double(x_T[0].numel());
  auto validate = [&] {
    at::NoGradGuard no_grad;
    if (!dp.active()) return rmse(forward(val_x), val_y);
    const auto [lo, hi] = dp.share(held);
    std::vector<double> sum = {
        hi > lo ? (forward(val_x.slice(0, lo, hi)) - val_y.slice(0, lo, hi)).square().sum().item<double>() : 0.0};
    dp.sum_gradients({}, sum);
    return std::sqrt(sum[0] / (double(held) * per_row));
  };
  FitResult r;
  r.init_rmse = r.best_rmse = validate();
  keep();
  BatchOrder order(train, s.shuffle_seed);
  for (int64_t it = 1; it <= s.iterations; ++it) {
    at::Tensor rows = order.next(std::min(s.batch, train));  // the same order on every rank
    const int64_t count = rows.size(0);
    at::Tensor loss;
    if (dp.active()) {  // this rank's rows' share of the batch mean
      const auto [lo, hi] = dp.share(count);
      rows = rows.slice(0, lo, hi);
      loss = hi > lo ? (forward(train_x.index_select(0, rows)) - train_y.index_select(0, rows)).square().sum() /
                           (double(count) * per_row)
                     : at::zeros({}, x_T.options());
    } else {
      loss = (forward(train_x.index_select(0, rows)) - train_y.index_select(0, rows)).square().mean();
    }
    adam.zero_grad();
    if (loss.requires_grad()) loss.backward();
    std::vector<double> total = {loss.item<double>()};
    dp.sum_gradients(params, total);  // nothing for one process
    adam.step();
    const double batch_rmse = std::sqrt(total[0]);
    if (it % s.validate_every != 0 && it != s.iterations) continue;
    const FitProgress p{it, batch_rmse, validate()};
    r.history.push_back(p);
    if (progress) progress(p);
    if (p.validation_rmse < r.best_rmse) {
      r.best_rmse = p.validation_rmse;
      r.best_iteration = it;
      keep();
    }
  }
  return r;
}

}  // namespace dsx
