#include "learned/gits.h"

#include <ATen/ATen.h>

#include <limits>

#include "core/error.h"
#include "models/denoiser.h"

namespace dsx {

GitsMetric gits_metric(const std::string& name) {
  if (name == "dev") return GitsMetric::Dev;
  if (name == "l1") return GitsMetric::L1;
  if (name == "l2") return GitsMetric::L2;
  fail("gits metric '{}' is unknown; allowed: dev, l1, l2", name);
}

at::Tensor chord_deviation(const at::Tensor& y, const at::Tensor& start, const at::Tensor& end) {
  const at::Tensor u = end - start;
  const at::Tensor unit = u / u.norm(2, {-1}, true);
  const at::Tensor a = end - y;
  return (a - (a * unit).sum(-1, true) * unit).norm(2, {-1});
}

GitsCost::GitsCost(std::vector<double> sigmas, GitsMetric metric) : sigmas_(std::move(sigmas)), metric_(metric) {
  if (sigmas_.size() < 2) fail("gits: the teacher grid needs at least 2 points");
  const int64_t n = int64_t(sigmas_.size());
  sum_ = at::zeros({n, n}, at::kDouble);
}

void GitsCost::add(const at::Tensor& states_in, const at::Tensor& directions_in) {
  const int64_t n = int64_t(sigmas_.size()), b = states_in.size(0);
  if (states_in.dim() < 3 || states_in.size(1) != n)
    fail("gits: states must be [B, {}, ...] (the grid's points), got {}", n, shape_text(states_in.sizes()));
  if (directions_in.size(0) != b || directions_in.size(1) != n - 1)
    fail("gits: directions must be [B, {}, ...], got {}", n - 1, shape_text(directions_in.sizes()));
  const at::Tensor x = states_in.to(at::kDouble).reshape({b, n, -1});
  const at::Tensor d = directions_in.to(at::kDouble).reshape({b, n - 1, -1});
  const at::Tensor start = x.select(1, 0), end = x.select(1, n - 1);
  at::Tensor teacher_dev;  // [B, N]: dev of every teacher point, the end point's exactly 0
  if (metric_ == GitsMetric::Dev) {
    teacher_dev = chord_deviation(x, start.unsqueeze(1), end.unsqueeze(1));
    teacher_dev.select(1, n - 1).zero_();
  }
  const at::Tensor sig = at::tensor(sigmas_, at::kDouble);
  for (int64_t i = 0; i + 1 < n; ++i) {
    const int64_t m = n - 1 - i;  // targets j = i+1 .. n−1
    const at::Tensor h = (sig.slice(0, i + 1) - sigmas_[size_t(i)]).view({1, m, 1});
    const at::Tensor pred = x.select(1, i).unsqueeze(1) + h * d.select(1, i).unsqueeze(1);  // [B, m, D]
    const at::Tensor target = x.slice(1, i + 1);
    at::Tensor per_sample;  // [B, m]
    switch (metric_) {
      case GitsMetric::L1: per_sample = (pred - target).abs().sum(-1); break;
      case GitsMetric::L2: per_sample = (pred - target).norm(2, {-1}); break;
      case GitsMetric::Dev:
        per_sample = chord_deviation(pred, start.unsqueeze(1), end.unsqueeze(1)) - teacher_dev.slice(1, i + 1);
        break;
    }
    sum_[i].slice(0, i + 1) += per_sample.sum(0);
  }
  count_ += b;
}

void GitsCost::merge(const at::Tensor& sums, int64_t count) {
  if (!sums.sizes().equals(sum_.sizes())) fail("gits: merging a cost of another grid");
  sum_ += sums.to(at::kDouble);
  count_ += count;
}

at::Tensor GitsCost::matrix() const {
  if (count_ == 0) fail("gits: no trajectories added");
  return sum_ / double(count_);
}

GitsPath gits_search(const at::Tensor& cost_in, int64_t steps, double coeff) {
  const at::Tensor cost = cost_in.to(at::kDouble).contiguous();
  if (cost.dim() != 2 || cost.size(0) != cost.size(1)) fail("gits: the cost matrix must be square");
  const int64_t n = cost.size(0);
  if (steps < 1 || steps > n - 1)
    fail("gits: {} steps cannot be chosen from a grid of {} points (allowed: 1 to {})", steps, n, n - 1);
  const double* c = cost.data_ptr<double>();
  auto C = [&](int64_t i, int64_t j) { return c[i * n + j]; };
  const double inf = std::numeric_limits<double>::infinity();
  // value[k][j]: the best cost of reaching N−1 from j in k steps; next[k][j]: the first index of that path.
  std::vector<std::vector<double>> value(size_t(steps + 1), std::vector<double>(size_t(n), inf));
  std::vector<std::vector<int64_t>> next(size_t(steps + 1), std::vector<int64_t>(size_t(n), -1));
  for (int64_t i = 0; i < n; ++i) {
    value[1][size_t(i)] = C(i, n - 1);
    next[1][size_t(i)] = n - 1;
  }
  for (int64_t k = 2; k <= steps; ++k)
    for (int64_t j = 0; j + 1 < n; ++j)
      for (int64_t i = j + 1; i + 1 < n; ++i) {
        const double v = C(j, i) + coeff * value[size_t(k - 1)][size_t(i)];
        if (v < value[size_t(k)][size_t(j)]) {  // strict: ties keep the smaller i, as min(old, new) does
          value[size_t(k)][size_t(j)] = v;
          next[size_t(k)][size_t(j)] = i;
        }
      }
  GitsPath path;
  path.cost = value[size_t(steps)][0];
  if (!std::isfinite(path.cost)) fail("gits: no finite path of {} steps (non-finite costs?)", steps);
  path.indices = {0};
  for (int64_t k = steps, w = 0; k >= 1; --k) {
    w = next[size_t(k)][size_t(w)];
    path.indices.push_back(w);
  }
  return path;
}

double gits_path_cost(const at::Tensor& cost_in, const std::vector<int64_t>& indices, double coeff) {
  const at::Tensor cost = cost_in.to(at::kDouble);
  double total = 0, weight = 1;
  for (size_t m = 0; m + 1 < indices.size(); ++m) {
    total += weight * cost[indices[m]][indices[m + 1]].item<double>();
    weight *= coeff;
  }
  return total;
}

}  // namespace dsx
