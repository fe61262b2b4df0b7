#pragma once
// DEIS tAB coefficients (Zhang & Chen 2023; diff-sampler get_deis_coeff_list, docs/amed.md §4
// "DEIS-tAB", docs/solvers.md §3.7), exposed for tests and tools.
#include <vector>

#include <ATen/ATen.h>

namespace dsx {

enum class DeisQuadrature {
  Riemann,        // the official sum: 10,000 linspace points incl. both ends, times Δt/10,000; nearly a
                  // trapezoid rule, ≤ 5e-5 relative off the integral on a 5-step grid, less on finer ones
  GaussLegendre,  // composite Gauss–Legendre in log σ: the integrals to ~1e-14
};

// C[i][j] for every interval i of the EDM grid `sigmas`: x_{i+1} = x_i + Σ_j C[i][j]·ε_{i−j}, where the
// tAB step i uses min(i+1, max_order) points (max_order counts points, 1..4, as diff-sampler) and an
// interval with one point is an Euler step (empty list). The Lagrange interpolation runs in the time of
// diff-sampler's VP fit to [fit_sigma_min, fit_sigma_max] with ε_s = 1e-3 (`edm2t`; the official code
// hard-codes [0.002, 80] whatever the model).
// The ε-coefficients C_0..C_{order−1} of one tAB step to σ `to`, on the points sigma[0..order−1] (newest
// first), per sample [B] and differentiable in every σ: the single definition of the method, which the fused
// loop evaluates with one-element float64 tensors (deis_tab_coefficients) and the step-level form
// (solvers/multistep.h) with per-sample σ. Order 1 is the Euler coefficient σ_to − σ_0.
std::vector<at::Tensor> deis_weights(const std::vector<at::Tensor>& sigma, const at::Tensor& to, int order,
                                     DeisQuadrature quadrature, double fit_sigma_min = 0.002,
                                     double fit_sigma_max = 80.0);

std::vector<std::vector<double>> deis_tab_coefficients(const std::vector<double>& sigmas, int max_order,
                                                       DeisQuadrature quadrature, double fit_sigma_min = 0.002,
                                                       double fit_sigma_max = 80.0);

}  // namespace dsx
