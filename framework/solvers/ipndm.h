#pragma once
// Adams–Bashforth weights of the iPNDM family (docs/amed.md §4, docs/solvers.md §3.7), exposed so tests
// can check them directly. Every weight set is for the update
//   x_{i+1} = x_i + (σ_{i+1} − σ_i) · Σ_k c[k] · d_{i−k},   k = 0 (current slope), 1, 2, ...
#include <vector>

namespace dsx {

// Equal-step AB weights of the given order (1..4): [1], [3/2, −1/2], [23, −16, 5]/12, [55, −59, 37, −9]/24.
std::vector<double> ipndm_weights(int order);

enum class AbVariant {
  Faithful,   // diff-sampler's ipndm_v closed forms, including its non-AB order-3/4 terms (docs/solvers.md §0.4)
  Corrected,  // exact integral of the Lagrange interpolant through σ_i, σ_{i−1}, ... over [σ_i, σ_{i+1}]
};

// Variable-step weights for interval i of `sigmas` using `order` slopes (needs i ≥ order − 1).
std::vector<double> ipndm_v_weights(const std::vector<double>& sigmas, int i, int order, AbVariant variant);

}  // namespace dsx
