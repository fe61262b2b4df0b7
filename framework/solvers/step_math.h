#pragma once
// Scalar functions written once for both kinds of σ a solver step sees: a host double (the base solvers'
// fused sampling loops) and a per-sample tensor [B] (step-level callers such as the AMED-Plugin, whose
// intermediate points differ per sample and must stay differentiable). A weight formula templated on
// T ∈ {double, at::Tensor} and written with these is the single definition both paths use.
#include <cmath>

#include <ATen/ATen.h>

#include "solvers/exp_integrator.h"

namespace dsx::num {

inline double log(double v) { return std::log(v); }
inline at::Tensor log(const at::Tensor& v) { return at::log(v); }
inline double pow(double v, double e) { return std::pow(v, e); }
inline at::Tensor pow(const at::Tensor& v, double e) { return at::pow(v, e); }
inline double expm1(double v) { return std::expm1(v); }
inline at::Tensor expm1(const at::Tensor& v) { return at::expm1(v); }

// `value` in the kind (and, for tensors, shape, dtype and device) of `like`.
inline double constant(double /*like*/, double value) { return value; }
inline at::Tensor constant(const at::Tensor& like, double value) { return at::full_like(like, value); }

// φ_k(z) elementwise with the branches of expint::phi (Taylor series below |z| < 0.5, the recursion above).
// Both branches are evaluated; the recursion sees z only where it is used, so no 0/0 reaches the gradient.
inline double phi(int k, double z) { return expint::phi(k, z); }
inline at::Tensor phi(int k, const at::Tensor& z) {
  const at::Tensor small = z.abs() < 0.5;
  double first = 1.0;
  for (int i = 1; i <= k; ++i) first /= i;  // 1/k!
  at::Tensor term = at::full_like(z, first), series = at::zeros_like(z);
  for (int j = 0; j < 30; ++j) {
    series = series + term;
    term = term * z / double(j + k + 1);
  }
  const at::Tensor zr = at::where(small, at::ones_like(z), z);
  at::Tensor p = at::expm1(zr) / zr;
  double fact = 1.0;
  for (int i = 1; i < k; ++i) {
    p = (p - 1.0 / fact) / zr;
    fact *= i + 1;
  }
  return at::where(small, series, p);
}

}  // namespace dsx::num
