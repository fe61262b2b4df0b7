#include "learned/geometry.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "learned/gits.h"

namespace dsx {

TrajectoryGeometry trajectory_geometry(const at::Tensor& states) {
  if (states.dim() < 3 || states.size(1) < 3) fail("geometry: trajectories must be [B, N ≥ 3, ...]");
  const int64_t b = states.size(0), n = states.size(1);
  const at::Tensor x = states.to(at::kDouble).reshape({b, n, -1});
  TrajectoryGeometry g;
  const at::Tensor centred = x - x.mean(1, true);
  const at::Tensor s2 = at::linalg_svdvals(centred).square();  // [B, min(N, D)], descending
  const at::Tensor total = s2.sum(1);
  const at::Tensor cum = s2.cumsum(1);
  for (int k = 0; k < 3; ++k) g.explained[k] = cum.select(1, std::min<int64_t>(k, s2.size(1) - 1)) / total;
  const at::Tensor start = x.select(1, 0).unsqueeze(1), end = x.select(1, n - 1).unsqueeze(1);
  const at::Tensor chord = (end - start).norm(2, {-1});  // [B, 1]
  g.deviation = chord_deviation(x, start, end) / chord;
  const at::Tensor sec = x.slice(1, 1) - x.slice(1, 0, n - 1);  // [B, N − 1, D]
  const at::Tensor a = sec.slice(1, 0, n - 2), c = sec.slice(1, 1);
  const at::Tensor cosine = ((a * c).sum(-1) / (a.norm(2, {-1}) * c.norm(2, {-1}))).clamp(-1.0, 1.0);
  g.angle = at::rad2deg(at::arccos(cosine));
  return g;
}

void GeometrySummary::add(const TrajectoryGeometry& g) {
  for (int k = 0; k < 3; ++k) {
    explained_sum_[k] += g.explained[k].sum().item<double>();
    explained_min_[k] = std::min(explained_min_[k], g.explained[k].min().item<double>());
  }
  const at::Tensor d = g.deviation.sum(0), a = g.angle.sum(0);
  deviation_sum_ = deviation_sum_.defined() ? deviation_sum_ + d : d;
  angle_sum_ = angle_sum_.defined() ? angle_sum_ + a : a;
  count_ += g.deviation.size(0);
}

double GeometrySummary::explained_mean(int k) const { return explained_sum_[k - 1] / double(count_); }
double GeometrySummary::explained_min(int k) const { return explained_min_[k - 1]; }

std::vector<double> GeometrySummary::deviation_mean() const {
  const at::Tensor m = (deviation_sum_ / double(count_)).contiguous();
  return std::vector<double>(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
}

std::vector<double> GeometrySummary::angle_mean() const {
  const at::Tensor m = (angle_sum_ / double(count_)).contiguous();
  return std::vector<double>(m.data_ptr<double>(), m.data_ptr<double>() + m.numel());
}

}  // namespace dsx
