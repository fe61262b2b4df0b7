#pragma once
// High-accuracy reference solution of the probability-flow ODE for any denoiser: adaptive
// Dormand–Prince 5(4) in u = log σ, where dx/du = x − D(x, e^u) is smooth over the whole range.
#include <cstdint>
#include <functional>

#include <ATen/ATen.h>

#include "models/denoiser.h"

namespace dsx {

struct OdeSolution {
  at::Tensor x;
  int64_t accepted_steps = 0;
  int64_t rejected_steps = 0;
};

// One step size for the whole batch; error = max over all elements of |err|/(atol + rtol·|x|).
// Runs in the dtype of x (use float64 for reference values; tolerances near 1e-12 need it).
OdeSolution solve_reference_ode(const Denoiser& model, const at::Tensor& x, double sigma_from, double sigma_to,
                                double rtol = 1e-12, double atol = 1e-12, const OdeProgress& progress = {});

// Tolerance of the reference solve of models without an exact one (networks): 1e-10 keeps it far below any
// few-step solver's error (≥ 1e-4) at a few hundred network calls per batch.
constexpr double kNetworkReferenceRtol = 1e-10;

// The ODE solution that reference metrics compare samples with: the model's own (ExactOde) when it has one,
// else this adaptive solve of the model itself at `rtol` (= atol). `model` should be the float64 one.
at::Tensor reference_solution(const Denoiser& model, const at::Tensor& x, double sigma_from, double sigma_to,
                              double rtol = kNetworkReferenceRtol, const OdeProgress& progress = {});
// How reference_solution() solves for `model` ("exact", or the solver and tolerance): part of cache keys.
std::string reference_method(const Denoiser& model, double rtol = kNetworkReferenceRtol);

}  // namespace dsx
