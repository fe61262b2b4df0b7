#pragma once
// GITS (Chen et al., "On the Trajectory Regularity of ODE-based Diffusion Sampling", ICML 2024): a time
// schedule chosen as a sub-grid of a fine teacher grid by dynamic programming over a cost matrix of one-step
// Euler errors from teacher states. Faithful to gits-main (docs: ../shared/notes/learned.md §2):
//
//   C[i][j] = mean_b cost(x̂_{i→j}, x_j),  x̂_{i→j} = x_i + (σ_j − σ_i)·d_i   (i < j, raw teacher directions d_i)
//     dev  (default)  dev(x̂_{i→j}) − dev(x_j), signed, where dev(y) is y's distance from the chord of its
//                     own trajectory (x_0 → x_{N−1}); the end point's dev is taken as exactly 0
//     l1 / l2         ‖x̂_{i→j} − x_j‖₁ / ‖x̂_{i→j} − x_j‖₂ over the sample's elements
//   V[i][1] = C[i][N−1];  V[j][k] = min_{j<i<N−1} C[j][i] + coeff·V[i][k−1]      (k = 2..K)
//   path from index 0: at each step the smallest i attaining the minimum (the official tie rule)
//
// so a path 0 = p_0 < … < p_K = N−1 costs Σ_m coeff^m · C[p_m][p_{m+1}] (coeff > 1 weighs late steps more).
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace dsx {

enum class GitsMetric { Dev, L1, L2 };
GitsMetric gits_metric(const std::string& name);  // "dev" | "l1" | "l2" (error lists them)

// The cost matrix, accumulated batch by batch (the official code averages its rounds' batch means; with
// equal batches that is this mean over all trajectories).
class GitsCost {
 public:
  GitsCost(std::vector<double> sigmas, GitsMetric metric);
  // states [B, N, *shape] at the grid's N points, directions [B, N−1, *shape] (the teacher's raw ones).
  void add(const at::Tensor& states, const at::Tensor& directions);
  int64_t count() const { return count_; }
  at::Tensor matrix() const;  // [N, N] float64; entries with i ≥ j are 0
  // Sums of another GitsCost over `count` trajectories (its sums()): merged in the order the batches were
  // added in one process, the result is that process's to the bit (0 + S₀ = S₀, then the same additions).
  const at::Tensor& sums() const { return sum_; }
  void merge(const at::Tensor& sums, int64_t count);

 private:
  std::vector<double> sigmas_;
  GitsMetric metric_;
  at::Tensor sum_;  // [N, N] float64: Σ_b of the per-sample cost
  int64_t count_ = 0;
};

// Perpendicular distance of y [B, D] from the line through start and end [B, D] (per row).
at::Tensor chord_deviation(const at::Tensor& y, const at::Tensor& start, const at::Tensor& end);

struct GitsPath {
  std::vector<int64_t> indices;  // K + 1 grid indices, 0 first, N − 1 last
  double cost = 0;               // V[0][K]
};
// The DP over `cost` [N, N] for K = steps intervals; 1 ≤ steps ≤ N − 1.
GitsPath gits_search(const at::Tensor& cost, int64_t steps, double coeff);
// Σ_m coeff^m · cost[p_m][p_{m+1}]: a path's DP value (for tests and reports).
double gits_path_cost(const at::Tensor& cost, const std::vector<int64_t>& indices, double coeff);

}  // namespace dsx
