#include "models/mixture_kernel.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace dsx::kernels {
namespace {

constexpr int kLanes = 8;  // independent partial sums: the compiler vectorises them, the order stays fixed

// Written once for both element types, compiled for AVX2 and for the baseline x86-64 (GCC's function
// multiversioning picks one at load time): 1.4–1.5× faster than the baseline build alone on AVX2 machines
// (dsx bench model, D = 3072, K = 16, B = 256, float32 and float64).
template <typename T>
__attribute__((always_inline)) inline double squared_distance_body(const T* a, const T* b, int64_t n) {
  double lane[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const double t = double(a[j + l]) - double(b[j + l]);
      lane[l] += t * t;
    }
  for (; j < n; ++j) {
    const double t = double(a[j]) - double(b[j]);
    lane[0] += t * t;
  }
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

template <typename T>
__attribute__((always_inline)) inline void add_scaled_body(double* acc, double c, const T* v, int64_t n) {
  for (int64_t j = 0; j < n; ++j) acc[j] += c * double(v[j]);
}

#define DSX_CLONES __attribute__((target_clones("avx2", "default")))
DSX_CLONES double squared_distance(const float* a, const float* b, int64_t n) { return squared_distance_body(a, b, n); }
DSX_CLONES double squared_distance(const double* a, const double* b, int64_t n) {
  return squared_distance_body(a, b, n);
}
DSX_CLONES void add_scaled(double* acc, double c, const float* v, int64_t n) { add_scaled_body(acc, c, v, n); }
DSX_CLONES void add_scaled(double* acc, double c, const double* v, int64_t n) { add_scaled_body(acc, c, v, n); }
#undef DSX_CLONES

}  // namespace

template <typename T>
void isotropic_mixture_denoise(const IsotropicMixture<T>& m, const T* x, const double* sigma, T* out, T* resp,
                               int64_t first, int64_t last) {
  const int64_t k = m.k, d = m.d;
  std::vector<double> logit(static_cast<size_t>(k)), acc(static_cast<size_t>(d));  // once per call, not per row
  constexpr double kLog2Pi = 1.8378770664093454836;
  for (int64_t i = first; i < last; ++i) {
    const T* xi = x + i * d;
    const double s2 = sigma[i] * sigma[i];
    double top = -INFINITY;
    for (int64_t c = 0; c < k; ++c) {
      const double v = m.var[c] + s2;
      logit[size_t(c)] =
          m.log_w[c] - 0.5 * double(d) * (kLog2Pi + std::log(v)) - squared_distance(xi, m.means + c * d, d) / (2 * v);
      top = std::max(top, logit[size_t(c)]);
    }
    double total = 0;
    for (int64_t c = 0; c < k; ++c) total += (logit[size_t(c)] = std::exp(logit[size_t(c)] - top));
    double a = 0;  // Σ w s²/v: the part of x that survives
    for (int64_t c = 0; c < k; ++c) {
      const double w = logit[size_t(c)] / total;
      if (resp) resp[i * k + c] = T(w);
      a += w * m.var[c] / (m.var[c] + s2);
      logit[size_t(c)] = w * s2 / (m.var[c] + s2);  // now the weight of μ_c
    }
    for (int64_t j = 0; j < d; ++j) acc[size_t(j)] = a * double(xi[j]);
    for (int64_t c = 0; c < k; ++c) add_scaled(acc.data(), logit[size_t(c)], m.means + c * d, d);
    T* oi = out + i * d;
    for (int64_t j = 0; j < d; ++j) oi[j] = T(acc[size_t(j)]);
  }
}

template void isotropic_mixture_denoise<float>(const IsotropicMixture<float>&, const float*, const double*, float*,
                                               float*, int64_t, int64_t);
template void isotropic_mixture_denoise<double>(const IsotropicMixture<double>&, const double*, const double*, double*,
                                                double*, int64_t, int64_t);

}  // namespace dsx::kernels
