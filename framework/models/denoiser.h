#pragma once
// The model interface every solver sees: an EDM denoiser D(x, σ) ≈ E[x0 | x_σ = x0 + σn].
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "diffusion/noise_process.h"

namespace dsx {

struct ModelInfo {
  std::vector<int64_t> sample_shape;  // shape of one sample, without the batch dimension
  double sigma_min = 0.002;           // range the model is meant to be sampled over
  double sigma_max = 80.0;
  std::string kind;                   // registry name ("gaussian_mixture", "vp_eps", ...)
  std::string fingerprint;            // content hash of parameters: part of cache keys
  std::shared_ptr<const NoiseProcess> process = std::make_shared<VeProcess>();
};

class Denoiser {
 public:
  virtual ~Denoiser() = default;
  virtual const ModelInfo& info() const = 0;
  // x: [B, *sample_shape]; sigma: [B] per-sample noise levels, same dtype and device as x.
  virtual at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma) = 0;
  // Moves parameters; the whole run (model included) uses one dtype and device.
  virtual void to(at::ScalarType dtype, at::Device device) = 0;
  // Feature map [B, C, 8, 8] captured during the last denoise() call: the AMED predictor's input (its
  // channel mean). Undefined when the model defines none (AMED then feeds zeros).
  virtual at::Tensor bottleneck() const { return {}; }
  // denoise() together with the bottleneck of that same call. Reentrant models (reentrant() == true)
  // compute both without state kept between calls, so concurrent callers (parallel teacher workers) need
  // no lock; the default goes through denoise() + bottleneck() and callers must serialise it.
  virtual at::Tensor denoise_with_bottleneck(const at::Tensor& x, const at::Tensor& sigma, at::Tensor* feature) {
    at::Tensor out = denoise(x, sigma);
    *feature = bottleneck();
    return out;
  }
  virtual bool reentrant() const { return false; }
};

// Models whose probability-flow ODE solution is known exactly (closed form) or to a reference accuracy far
// below any solver's error: the "exact testbeds" that measure a solver's true error without FID noise.
class ExactOde {
 public:
  virtual ~ExactOde() = default;
  // x(σ_to) on the trajectory through x at σ_from, in x's dtype and device.
  virtual at::Tensor ode_solution(const at::Tensor& x, double sigma_from, double sigma_to) const = 0;
};

// Models that can draw exact samples of their data distribution: the reference of distribution metrics
// (Fréchet distance, sliced Wasserstein) without a sampler's error in it.
class DataSampler {
 public:
  virtual ~DataSampler() = default;
  // [N, *sample_shape] float64 on the CPU, one independent generator per seed.
  virtual at::Tensor sample_data(const std::vector<int64_t>& seeds) const = 0;
};

// σ as the per-sample tensor the interface takes.
at::Tensor sigma_like(const at::Tensor& x, double sigma);
// "[2, 3, 8, 8]" for messages.
std::string shape_text(at::IntArrayRef shape);
// Broadcast a per-sample [B] tensor against x's shape ([B, 1, 1, ...]).
at::Tensor per_sample(const at::Tensor& v, const at::Tensor& x);

// Counts network evaluations (NFE is what this wrapper saw, never the solver's own arithmetic) and turns
// non-finite model outputs into an error that names the σ and the call.
class CountingDenoiser : public Denoiser {
 public:
  explicit CountingDenoiser(Denoiser& inner, bool check_finite = true) : inner_(inner), check_(check_finite) {}
  const ModelInfo& info() const override { return inner_.info(); }
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma) override;
  void to(at::ScalarType dtype, at::Device device) override { inner_.to(dtype, device); }
  at::Tensor bottleneck() const override { return inner_.bottleneck(); }
  int64_t nfe() const { return nfe_; }
  void reset() { nfe_ = 0; }

 private:
  Denoiser& inner_;
  bool check_;
  int64_t nfe_ = 0;
};

}  // namespace dsx
