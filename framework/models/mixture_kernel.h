#pragma once
// The isotropic Gaussian mixture's exact denoiser as one fused pass per row (docs/solvers.md §6.2):
//
//   v_k = s_k² + σ²,  w = softmax_k(log π_k − ½·D·log(2π·v_k) − |x − μ_k|²/(2·v_k)),
//   D(x, σ) = (Σ_k w_k s_k²/v_k)·x + Σ_k (w_k σ²/v_k)·μ_k
//
// Each row reads x once per component from L1 and the means from L2, with no temporaries: the ATen formula
// makes ~4K full-size temporaries per call. Distances are direct differences accumulated in float64 (the
// |x|² − 2x·μ + |μ|² expansion cancels at small σ), in a fixed order per row, so a sample's bits never depend
// on the other rows of the batch. No torch here: the kernel sees raw arrays.
#include <cstdint>

namespace dsx::kernels {

template <typename T>
struct IsotropicMixture {
  const T* means;       // [K, D] row-major
  const double* var;    // [K] s_k²
  const double* log_w;  // [K] log π_k (normalised weights)
  int64_t k = 0, d = 0;
};

// Rows [first, last) of x [B, D] with per-row σ: out [B, D]; resp [B, K] gets w (nullptr: not wanted).
// T is float or double.
template <typename T>
void isotropic_mixture_denoise(const IsotropicMixture<T>& m, const T* x, const double* sigma, T* out, T* resp,
                               int64_t first, int64_t last);

}  // namespace dsx::kernels
