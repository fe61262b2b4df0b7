#pragma once
// φ-functions of exponential integrators (DPM-Solver(++), UniPC), host-side double precision.
// φ_1(z) = (e^z − 1)/z, φ_{k+1}(z) = (φ_k(z) − 1/k!)/z. The official codes evaluate the recursion
// directly, which cancels catastrophically as the step h → 0 (fine grids in convergence tests); below
// |z| < 0.5 the Taylor series Σ_j z^j/(j+k)! is used instead (docs/solvers.md §5.7). The two agree to
// ~1e-15 relative where both are accurate, far below any golden tolerance.
#include <cmath>

namespace dsx::expint {

inline double phi(int k, double z) {
  if (std::abs(z) < 0.5) {
    double term = 1.0, sum = 0.0;
    for (int i = 1; i <= k; ++i) term /= i;  // 1/k!
    for (int j = 0; j < 30; ++j) {
      sum += term;
      term *= z / double(j + k + 1);
    }
    return sum;
  }
  double p = std::expm1(z) / z, fact = 1.0;
  for (int i = 1; i < k; ++i) {
    p = (p - 1.0 / fact) / z;
    fact *= i + 1;
  }
  return p;
}

}  // namespace dsx::expint
