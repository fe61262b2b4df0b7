#pragma once
// EPD-Solver (Zhu et al., "Distilling Parallel Gradients for Fast ODE Solvers of Diffusion Models", ICCV 2025;
// notes: ../shared/notes/learned.md §3.1): each step σ_n → σ_{n+1} evaluates the model at K intermediate
// points, independent of each other (parallel), and combines their directions with learned weights:
//
//   d_n = (x_n − D(x_n, σ_n))/σ_n                         (AFS at n = 0: x_n/√(1 + σ_n²), no call)
//   τ_k = σ_{n+1}^{r_k} σ_n^{1−r_k},   x̃_k = x_n + (τ_k − σ_n)·d_n                     k = 1..K
//   x_{n+1} = x_n + (σ_{n+1} − σ_n)·Σ_k w_k c_k (x̃_k − D(x̃_k, a_k τ_k))/τ_k
//
// Per step and point: r = sigmoid(θ_r), w = softmax_k(θ_w), c = 1 + s_c(2·sigmoid(θ_c/2) − 1), and a likewise
// with s_a (the official parameterisation: a lookup table, no network, no input). All-zero logits are the
// neutral solver: r = ½, w = 1/K, c = a = 1, i.e. DPM-Solver-2's geometric midpoint step whatever K.
//
// Model calls, counted honestly: a step makes 1 + K of them (K with AFS at n = 0); the K of a step do not
// depend on each other, so with K parallel workers a step costs 2 sequential rounds. On P grid points:
// total = (P − 1)(1 + K) − afs, sequential = 2(P − 1) − afs (the paper's "parallel NFE").
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "models/denoiser.h"
#include "solvers/solver.h"

namespace dsx {

struct EpdParams {
  at::Tensor r, w, c, a;  // raw logits [steps, K], float64
  double scale_c = 0.1, scale_a = 0.1;
  std::vector<double> sigmas;         // the grid the parameters belong to (steps + 1 points)
  std::string schedule = "explicit";  // the family it was made from (labels)
  bool afs = false;

  int64_t steps() const { return r.size(0); }
  int64_t points_per_step() const { return r.size(1); }
  int64_t total_nfe() const { return steps() * (1 + points_per_step()) - (afs ? 1 : 0); }
  int64_t sequential_nfe() const { return 2 * steps() - (afs ? 1 : 0); }
  std::vector<at::Tensor> tensors() const { return {r, w, c, a}; }
};

// All-zero logits on `sigmas`: the neutral solver.
EpdParams neutral_epd(const std::vector<double>& sigmas, int64_t k, bool afs, double scale_c = 0.1,
                      double scale_a = 0.1);

// The constrained coefficients [steps, K]: r ∈ (0, 1), w on the simplex, c ∈ 1 ± s_c, a ∈ 1 ± s_a.
struct EpdCoefficients {
  at::Tensor r, w, c, a;
};
EpdCoefficients epd_coefficients(const EpdParams& p);

// One batch x_T → x at σ_min on p.sigmas, differentiable in p's logits (the K calls of a step run one by one
// through `model`, so a counting wrapper sees the total).
at::Tensor epd_sample(const Denoiser& model, const at::Tensor& x_T, const EpdParams& p);

// epd.h5: the logits, scales, grid and afs (attributes method = "epd").
void save_epd(const std::string& path, const EpdParams& p);
EpdParams load_epd(const std::string& path);  // errors name the file

// The catalog entry `epd` (needs epd.params = an epd.h5): samples on the grid stored in the file.
SolverEntry epd_solver_entry();

}  // namespace dsx
