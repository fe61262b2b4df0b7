#pragma once
// High-accuracy reference solution of the probability-flow ODE for any denoiser: adaptive
// Dormand–Prince 5(4) in u = log σ, where dx/du = x − D(x, e^u) is smooth over the whole range.
#include <cstdint>

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
                                double rtol = 1e-12, double atol = 1e-12);

}  // namespace dsx
