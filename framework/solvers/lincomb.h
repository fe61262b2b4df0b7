#pragma once
// Σ c_k·t_k in one pass over memory. Every update of the solvers here (Euler, Heun, exponential
// integrators, Adams–Bashforth, UniPC, SciRE) is a linear combination of the state and a few model
// outputs with scalar coefficients; fusing it keeps solver overhead small next to the model call
// (separate torch ops would allocate and sweep the batch once per term).
#include <utility>
#include <vector>

#include <ATen/ATen.h>

namespace dsx {

struct Term {
  double coef;
  const at::Tensor& tensor;
};

// All tensors must share shape, dtype and device. CPU float/double contiguous tensors use a fused loop;
// anything else falls back to torch arithmetic (same values up to rounding order).
at::Tensor lincomb(std::initializer_list<Term> terms);
at::Tensor lincomb(const std::vector<std::pair<double, at::Tensor>>& terms);

}  // namespace dsx
