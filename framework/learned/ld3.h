#pragma once
// Schedules learned end to end, after LD3 (Tong et al., "Learning to Discretize Denoising Diffusion ODEs",
// arXiv 2405.15506, ICLR 2025): the interior points of a student's σ grid are trained by backpropagating the
// error of its final state, against teacher end points, through the solver's step-level form
// (solvers/multistep.h with keep_graph: every step, its history and its weights stay differentiable).
//
//   θ ∈ R^{P−1}, one logit per interval     log σ_i = log σ_max + (log σ_min − log σ_max)·Σ_{j<i} softmax(θ)_j
//   ξ ∈ R^P (decoupled, optional)           σ'_i = σ_i·exp(s·tanh(ξ_i)), s = max_shift; ξ_0 = ξ_{P−1} = 0
//   loss = mean over samples and dimensions of (x_student(σ_min) − x_teacher(σ_min))²   (rmse_to_reference²)
//
// The solver's weights use σ_i; the network is evaluated at σ'_i (LD3's decoupled model time, a shift of
// λ = −log σ; LD3 clips the shift to ±δ, here tanh bounds it smoothly). LD3's loss is LPIPS on images and it
// relaxes the teacher's x_T within a small ball; on exact testbeds the loss here is the metric itself and the
// teacher is exact, so neither is needed. Training keeps the schedule of the best validation error (held-out
// teacher trajectories), starting from `init`'s grid, whose validation error is reported beside it.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/options.h"
#include "diffusion/schedule.h"
#include "learned/endpoint_fit.h"
#include "learned/learned_schedule.h"
#include "models/denoiser.h"
#include "solvers/solver.h"

namespace dsx {

// θ [P−1] → σ [P] (float64, differentiable in θ); the end points are σ_max and σ_min exactly.
at::Tensor grid_from_logits(const at::Tensor& logits, double sigma_max, double sigma_min);
// The logits whose grid is `sigmas` (strictly decreasing): θ_j = log(log σ_j − log σ_{j+1}).
at::Tensor logits_from_grid(const std::vector<double>& sigmas);
// σ' = σ·exp(max_shift·tanh(ξ)) with the end points' shifts masked to 0 (shifts undefined: σ' = σ).
at::Tensor decoupled_sigmas(const at::Tensor& sigmas, const at::Tensor& shifts, double max_shift);

// The final state of `solver` from x_T along `sigmas` [P], the model evaluated at `model_sigmas` [P], through
// the solver's step-level form, differentiable in both grids and x_T. AFS and thresholding as `common` says.
// An error for a solver without a step-level form (heun, dpm2, the singlestep DPM-Solvers).
at::Tensor solve_through_steps(const Solver& solver, const CommonOptions& common, const Denoiser& model,
                               const at::Tensor& x_T, const at::Tensor& sigmas, const at::Tensor& model_sigmas);

struct Ld3Settings {
  std::string solver = "ipndm";
  std::map<std::string, RawOption> solver_options;
  int64_t nfe = 5;
  ScheduleSpec init;       // the starting grid's family; its num_steps comes from nfe and the solver
  bool decoupled = false;  // also learn the model's σ'_i
  double max_shift = 0.1;  // bound on |log σ'_i − log σ_i|
  FitSettings fit;         // Adam steps, batch, lr, held-out rows (learned/endpoint_fit.h)
};

struct Ld3Result {
  LearnedSchedule schedule;  // method "ld3": σ grid, model_sigmas when decoupled, settings and errors in info
  FitResult fit;             // starting and kept validation errors, the validation curve
};

// Trains on (x_T, target) pairs [N, *shape] (float64; the last fit.validation rows held out), the model in its
// own dtype. `progress` is called at every validation point.
// With `dp` active, every rank of a multi-process run calls it and fits data-parallel (fit_endpoints).
Ld3Result learn_schedule(const Ld3Settings& s, const Denoiser& model, const at::Tensor& x_T, const at::Tensor& target,
                         const std::function<void(const FitProgress&)>& progress = {},
                         const dist::DataParallel& dp = {});

}  // namespace dsx
