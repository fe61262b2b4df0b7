#pragma once
// The exact testbeds the golden values in docs/ were produced on, rebuilt without torch RNG.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "models/diagonal_gaussian.h"
#include "models/gaussian_mixture.h"

namespace dsx::test {

// docs/solvers.md §6.4: per-channel Gaussian μ = [0.3, −0.5, 1.0], s = [0.5, 1.0, 0.1];
// x_T = 80·[1.0, −0.5, 0.25] (one sample of shape [3]).
struct Gauss3 {
  std::shared_ptr<DiagonalGaussian> model;
  at::Tensor x_T;  // [1, 3] float64
};
Gauss3 gauss3();

// docs/amed.md §12.1: C=3, H=W=8, μ_k = 0.5 sin(0.37k), s_k = 0.05 + 0.45(0.5 + 0.5 cos(0.91k)),
// latents z[b,k] = √2 sin(2.1k + 1.7b + 0.3), B = 4, x_T = 80 z (float64 here; cast by the caller).
struct Toy192 {
  std::shared_ptr<DiagonalGaussian> model;
  at::Tensor x_T;  // [4, 3, 8, 8] float64
};
Toy192 toy192();

// diff-sampler's time_uniform grid computed in float32 as the official code does (docs/amed.md §2).
std::vector<double> time_uniform_float32(int num_steps, double rho, double sigma_min = 0.002, double sigma_max = 80.0);

// A family's grid on [0.002, 80] (rho for polynomial and time_uniform).
std::vector<double> family_grid(const std::string& kind, int points, double rho = 7.0);

// The head of a spec on the shipped mixture (float64) whose first stage is `exact`: the exact ODE solution
// from seeds 0..seeds−1 on the 2-point polynomial grid (the learned stages' teacher); `teacher_extra` is
// appended to that stage (lines of 4-space-indented keys). Stages follow at 2 spaces.
#ifdef DSX_SOURCE_DIR  // defined for the test executables, not for this support library
inline std::string mixture_exact_teacher_spec(const std::string& name, int64_t seeds,
                                              const std::string& teacher_extra = "") {
  return "name: " + name + "\nmodel: {kind: gaussian_mixture, file: " + std::string(DSX_SOURCE_DIR) +
         "/data/gmm/mix8_3x8x8.h5}\nprecision: float64\nstages:\n  exact:\n    kind: teacher\n"
         "    schedule: {kind: polynomial, num_steps: 2, rho: 7}\n    solver: {name: exact}\n    seeds: 0-" +
         std::to_string(seeds - 1) + teacher_extra + "\n";
}
#endif

// A σ grid rounded to float32, as the official float32 codes hold it.
std::vector<double> f32(std::vector<double> sigmas);

// docs/solvers.md §6.2 1-D mixture: π = [0.3, 0.7], μ = [−1, 2], s = [0.5, 0.3].
std::unique_ptr<GaussianMixture> gmm_1d();

// Runs a registered solver with text options on a model; the NFE is what a CountingDenoiser saw.
struct RunResult {
  at::Tensor x;
  int64_t nfe = 0;
  int64_t expected_nfe = 0;
};
RunResult run_solver(const std::string& name, const std::map<std::string, std::string>& options, const Denoiser& model,
                     const at::Tensor& x_T, const std::vector<double>& sigmas);

}  // namespace dsx::test
