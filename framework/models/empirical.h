#pragma once
// The empirical-mixture testbed: the exact optimal denoiser of a dataset. Data = a mixture of the N images
// μ_k with equal weights and one isotropic std s ≥ 0 (s = 0: the empirical distribution itself, whose ODE
// ends exactly on a training image). For v = s² + σ²:
//
//   w_k(x, σ) = softmax_k(−|x − μ_k|² / 2v),   D(x, σ) = (s²/v)·x + (σ²/v)·Σ_k w_k μ_k
//
// Image-shaped trajectories with real image geometry and an exact (reference) ODE solution, so a solver's
// true error on images is measurable without FID noise. The sum over N runs in chunks with a running
// log-sum-exp (60 000 Fashion-MNIST images in one model), as two GEMMs per chunk in float64 whatever the
// run's precision: |x − μ|² = |x|² − 2x·μ + |μ|² cancels, and float32 would misrank neighbours at small σ.
// Unlike the GaussianMixture's fixed-order blend, a GEMM's low bits may depend on the other rows of the
// batch, so the same seed gives the same sample only to ~1e-15 across batch compositions (teacher shards are
// recomputed as whole batches, so resumed runs are still identical).
#include <cstdint>
#include <string>

#include "models/analytic_model.h"

namespace dsx {

class EmpiricalMixture : public AnalyticModel<EmpiricalMixture> {
 public:
  // images: [N, *sample_shape] (any float dtype, kept in float64); `data_fingerprint` identifies the data.
  EmpiricalMixture(const at::Tensor& images, double std, double sigma_min, double sigma_max,
                   const std::string& data_fingerprint, int64_t chunk = 4096);

  const ModelInfo& info() const override { return info_; }
  // out->map: the posterior mean image Σ_k w_k μ_k average-pooled to [B, C, 8, 8] (images of [C, H, W] with
  // H, W ≥ 8): what the denoiser "sees" at this σ, coarse, as a network's 8×8 bottleneck summarises it.
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out = nullptr) const override;
  bool has_features() const override;
  // Records the run precision; the computation itself stays in float64 (see above).
  void to(at::ScalarType dtype, at::Device device);

  int64_t size() const { return images_.size(0); }
  double std() const { return std_; }

  // Image index uniform from the seed, plus s·N(0, I).
  at::Tensor sample_data(const std::vector<int64_t>& seeds) const override;
  // Fehlberg 7(8) on this denoiser in float64 at rtol = atol = 1e-10 (models/reference_ode.h).
  at::Tensor ode_solution(const at::Tensor& x, double sigma_from, double sigma_to,
                          const OdeProgress& progress = {}) const override;
  // log (1/N) Σ_k N(x; μ_k, s² I); an error for s = 0 (no density).
  at::Tensor log_density(const at::Tensor& x) const override;

 private:
  // Σ_k w_k μ_k [B, D] for flattened x [B, D] and v [B, 1], chunked over k with a running log-sum-exp.
  at::Tensor posterior_mean(const at::Tensor& xf, const at::Tensor& v) const;

  at::Tensor images_;  // [N, D] float64 (device follows the model)
  at::Tensor norms_;   // [N] |μ_k|²
  double std_;
  int64_t chunk_;
  ModelInfo info_;
};

}  // namespace dsx
