#pragma once
// Trajectory geometry (the observation behind AMED and GITS: a sampling trajectory lies almost in a 2-D
// subspace, and trajectories share one shape). For trajectories x_0 … x_{N−1} on a σ grid, per trajectory:
//
//   explained variance  of its N points (centred) by their top k principal directions, k = 1, 2, 3:
//                       Σ_{j≤k} s_j² / Σ_j s_j² from the singular values s_j
//   chord deviation     ‖(x_{N−1} − x_i) − ((x_{N−1} − x_i)·u)u‖ / ‖x_{N−1} − x_0‖, u the unit chord x_0 → x_{N−1}:
//                       how far the path bows away from the straight line, per grid point, relative
//   turning angle       between consecutive secants x_{i+1} − x_i and x_{i+2} − x_{i+1}, in degrees
//
// Statistics are accumulated batch by batch; the per-point curves are means over trajectories.
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace dsx {

struct TrajectoryGeometry {
  // Per trajectory [B] (float64): explained variance of the top 1, 2, 3 principal directions.
  at::Tensor explained[3];
  at::Tensor deviation;  // [B, N] relative chord deviation at each point
  at::Tensor angle;      // [B, N − 2] turning angles (degrees)
};

// states [B, N, *shape] (N ≥ 3).
TrajectoryGeometry trajectory_geometry(const at::Tensor& states);

// Means over any number of batches.
class GeometrySummary {
 public:
  void add(const TrajectoryGeometry& g);
  int64_t count() const { return count_; }
  double explained_mean(int k) const;  // k = 1, 2, 3
  double explained_min(int k) const;
  std::vector<double> deviation_mean() const;  // [N]
  std::vector<double> angle_mean() const;      // [N − 2]

 private:
  int64_t count_ = 0;
  double explained_sum_[3] = {0, 0, 0}, explained_min_[3] = {1, 1, 1};
  at::Tensor deviation_sum_, angle_sum_;
};

}  // namespace dsx
