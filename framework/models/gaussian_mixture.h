#pragma once
// Gaussian mixture data model with isotropic components: the exact denoiser (numerically stable
// log-sum-exp responsibilities, docs/solvers.md §6.2), exact data samples and the exact (K = 1, closed
// form) or reference (K > 1, adaptive ODE) solution of the probability-flow ODE. With stds = 0 it is the
// "empirical" mixture whose optimal denoiser is the dataset itself.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/analytic_model.h"
#include "models/reference_ode.h"

namespace dsx {

class GaussianMixture : public AnalyticModel<GaussianMixture> {
 public:
  // means [K, *sample_shape], stds [K] (≥ 0), weights [K] (> 0, normalised here).
  GaussianMixture(at::Tensor means, at::Tensor stds, at::Tensor weights, double sigma_min = 0.002,
                  double sigma_max = 80.0);
  // Datasets 'means', 'stds', 'weights'; errors name the file and dataset.
  static std::unique_ptr<GaussianMixture> load_h5(const std::string& path, double sigma_min = 0.002,
                                                  double sigma_max = 80.0);
  void save_h5(const std::string& path) const;
  // K random components for benchmarks and examples: means ~ spread·N(0, I), stds uniform in std_range.
  static std::unique_ptr<GaussianMixture> random(int64_t k, std::vector<int64_t> sample_shape, uint64_t seed,
                                                 double spread = 1.0, double std_lo = 0.05, double std_hi = 0.5);

  const ModelInfo& info() const override { return info_; }
  // Fills out->map with the posterior responsibilities (see has_features below).
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out = nullptr) const override;
  // In place: only while the model is not shared yet (construction, tests); converted() copies instead.
  void to(at::ScalarType dtype, at::Device device);

  int64_t num_components() const { return means_.size(0); }
  int64_t dim() const { return means_.size(1); }
  const at::Tensor& means() const { return means_; }  // [K, D] flattened
  const at::Tensor& stds() const { return stds_; }
  const at::Tensor& weights() const { return weights_; }

  // Exact samples from the data distribution, one CPU generator per seed.
  at::Tensor sample_data(const std::vector<int64_t>& seeds) const override;
  // x(σ_to) on the ODE trajectory through x at σ_from: closed form for K = 1, else Fehlberg 7(8) to
  // rtol in float64. Returned in x's dtype/device.
  at::Tensor ode_solution(const at::Tensor& x, double sigma_from, double sigma_to,
                          const OdeProgress& progress = {}) const override;
  void set_reference_rtol(double rtol) { reference_rtol_ = rtol; }
  // D(x, σ) of one flattened row straight through the kernel, for a float64 CPU model (the reference solve).
  void denoise_row(const double* x, double sigma, double* out) const;
  // denoise_row as the reference solve's per-row kernel.
  RowDenoiser row_denoiser() const;

  // log Σ_k w_k N(x; μ_k, s_k² I) per sample with log-sum-exp, [N] float64. Components with s_k = 0 (the
  // "empirical" mixture) have no density: that is an error, not −inf.
  at::Tensor log_density(const at::Tensor& x) const override;

  // AMED feature of a denoise() call: the posterior responsibilities w_k(x, σ) = P(component k |
  // x_σ = x), as [B, 1, 8, 8] (64 slots, component k in slot k, unused slots 0; for K > 64 component k
  // adds to slot k mod 64). Why this: a mixture's ODE trajectory is a blend of the per-component straight
  // Gaussian flows weighted by w, so w — which mode the sample is heading to and how decided it is — is
  // exactly what bends the trajectory and what a network bottleneck summarises about it; it is
  // shape-independent and already computed by denoise(). Not raw x (dimension-dependent, no 8×8 layout).
  bool has_features() const override { return true; }

 private:
  void refresh_info();
  // CPU float32/float64 without autograd: models/mixture_kernel.h; else the same math in ATen ops (CUDA,
  // gradients through the model: LD3, GITS).
  at::Tensor denoise_fused(const at::Tensor& x, const at::Tensor& sigma, Features* out) const;
  at::Tensor denoise_formula(const at::Tensor& x, const at::Tensor& sigma, Features* out) const;
  at::Tensor means_, stds_, weights_, log_weights_;
  at::Tensor var64_, log_weights64_;  // s_k², log π_k in float64 on the CPU (the kernel's, whatever the dtype)
  ModelInfo info_;
  // rkf78 per row at 1e-14: max error 4e-13 against a 1e-15 solve (dsx bench reference, D = 3072, K = 16), as
  // accurate as Dormand–Prince on 64 rows together at 1e-12 (5e-13, cache version 2) in 1/12 of the time.
  double reference_rtol_ = 1e-14;
};

}  // namespace dsx
