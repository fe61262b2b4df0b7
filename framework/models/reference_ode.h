#pragma once
// High-accuracy reference solution of the probability-flow ODE for any denoiser, in u = log σ where
// dx/du = x − D(x, e^u) is smooth over the whole range: Boost.Odeint's step-size-controlled integrators on
// the flattened batch (one step size per solve; the callers solve chunks of rows, see pipeline/ode_reference.h).
//
// Why Fehlberg 7(8) by default: at the tolerances references use (1e-10 … 1e-12) an 8th-order pair takes
// far fewer model calls than Dormand–Prince 5(4) (the error per step falls as h⁸, not h⁵); `dsx bench
// reference` measures calls, time and accuracy of each integrator against a 10⁵-step float64 solve.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "models/denoiser.h"

namespace dsx {

struct OdeSolution {
  at::Tensor x;
  int64_t accepted_steps = 0;
  int64_t rejected_steps = 0;
  int64_t evaluations = 0;  // model calls
};

// The integrators by name: "rkf78" (Fehlberg 7(8), the default), "bulirsch_stoer" (extrapolation),
// "dopri5" (Dormand–Prince 5(4), what references used up to cache version 2).
const std::vector<std::string>& reference_integrators();
inline const std::string kDefaultReferenceIntegrator = "rkf78";

// D(x, σ) of one row given as raw arrays (out has x's length): a model's own float64 kernel, which per_row
// solves call instead of denoise() — no tensors per call, whose overhead is twice the mixture kernel's work
// on one row of 3072 values.
using RowDenoiser = std::function<void(const double* x, double sigma, double* out)>;

struct OdeSolveOptions {
  // Per element: |error| ≤ atol + rtol·(|x| + h·|dx/du|) (odeint's error checker, max over the batch).
  double rtol = 1e-12, atol = 1e-12;
  std::string integrator = kDefaultReferenceIntegrator;
  // Each row its own solve with its own step sizes, rows in parallel over LibTorch's intra-op threads: for
  // models whose cost is per row (the Gaussian mixture's kernel). A row then takes only the steps it needs
  // and the solve's working set stays in cache: measured 2.4× faster than 64 rows together (D = 3072,
  // K = 16, `dsx bench reference --rows`), and a row's solution does not depend on the other rows. Models
  // whose calls gain from batching (networks, the empirical mixture's GEMMs) solve the rows together.
  bool per_row = false;
  RowDenoiser row_denoiser;  // per_row only; empty: the model's denoise()
  OdeProgress progress;      // after each accepted step (per_row: each finished row), with the fraction done
};

// Runs in float64 on the CPU (x is converted; the model is called in its own dtype and device). Error
// control is one step size per solve: over all rows, or per row with per_row.
OdeSolution solve_reference_ode(const Denoiser& model, const at::Tensor& x, double sigma_from, double sigma_to,
                                const OdeSolveOptions& options = {});

// Tolerance of the reference solve of models without an exact one (networks): 1e-10 keeps it far below any
// few-step solver's error (≥ 1e-4) at a few hundred network calls per batch.
constexpr double kNetworkReferenceRtol = 1e-10;

// The integrator for a solve at rtol: Fehlberg 7(8) below 1e-7, Dormand–Prince 5(4) above, where its fewer
// stages per step win (model calls on 64 mixture rows, dsx bench reference: 103 vs 182 at 1e-3, 505 vs 455 at
// 1e-7, 1753 vs 819 at 1e-10).
std::string reference_integrator_for(double rtol);

// The ODE solution that reference metrics compare samples with: the model's own (ExactOde) when it has one,
// else this adaptive solve of the model itself at `rtol` (= atol, reference_integrator_for(rtol)). `model`
// should be the float64 one.
at::Tensor reference_solution(const Denoiser& model, const at::Tensor& x, double sigma_from, double sigma_to,
                              double rtol = kNetworkReferenceRtol, const OdeProgress& progress = {});
// How reference_solution() solves for `model` ("exact", or the integrator and tolerance): part of cache keys.
std::string reference_method(const Denoiser& model, double rtol = kNetworkReferenceRtol);

}  // namespace dsx
