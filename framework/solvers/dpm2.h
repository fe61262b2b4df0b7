#pragma once
// DPM-Solver-2's second stage in EDM form: x_next = x + (σ_{i+1} − σ_i)·(w_cur·d_i + w_mid·d_mid), the
// intermediate point at s = σ_{i+1}^r σ_i^{1−r}. Shared by the solver (host r) and the AMED-Plugin
// (per-sample learned r, differentiable).
namespace dsx {

template <class T>
struct Dpm2Weights {
  T cur, mid;
};

template <class T>
Dpm2Weights<T> dpm2_weights(const T& r) {
  T mid = 1.0 / (2.0 * r);
  return {1.0 - mid, mid};
}

}  // namespace dsx
