#pragma once
// Data ~ N(μ, diag(s²)) elementwise: the simplest exact testbed (docs/solvers.md §6.1, docs/amed.md §12.1).
// D(x,σ) = μ + s²/(s²+σ²)(x − μ); the ODE solution is x(σ) = μ + (x_T − μ)·sqrt(s²+σ²)/sqrt(s²+σ_T²).
#include "models/analytic_model.h"

namespace dsx {

class DiagonalGaussian : public AnalyticModel<DiagonalGaussian> {
 public:
  // mean and std have the sample shape.
  DiagonalGaussian(at::Tensor mean, at::Tensor std, double sigma_min = 0.002, double sigma_max = 80.0);
  const ModelInfo& info() const override { return info_; }
  // Fills out->map with the AMED feature (see has_features below).
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out = nullptr) const override;
  // In place: only while the model is not shared yet (construction, tests); converted() copies instead.
  void to(at::ScalarType dtype, at::Device device);
  // Closed-form ODE solution from σ_from to σ_to (float64 internally).
  at::Tensor ode_solution(const at::Tensor& x, double sigma_from, double sigma_to,
                          const OdeProgress& progress = {}) const override;
  const at::Tensor& mean() const { return mean_; }
  const at::Tensor& std() const { return std_; }
  // AMED feature of a denoise() call (docs/amed.md §12.1, the toy the official golden values were
  // produced on): x/sqrt(1+σ²), the input scaled to unit variance as a network would see it, as
  // [B, C, 8, 8] when the sample shape is [C, 8, 8] ([8, 8] gives C = 1); none for other shapes.
  bool has_features() const override;
  at::Tensor sample_data(const std::vector<int64_t>& seeds) const override;
  // log N(x; μ, diag(s²)) per sample, [N] float64.
  at::Tensor log_density(const at::Tensor& x) const override;

 private:
  at::Tensor feature_of(const at::Tensor& x, const at::Tensor& sigma) const;
  at::Tensor mean_, std_;
  ModelInfo info_;
};

}  // namespace dsx
