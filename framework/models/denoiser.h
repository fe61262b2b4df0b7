#pragma once
// The model interface every solver sees: an EDM denoiser D(x, σ) ≈ E[x0 | x_σ = x0 + σn].
// A Denoiser is a stateless, shared resource: denoise() is const, keeps nothing between calls and may be
// called from several threads at once, so one loaded model serves every stage and worker of a process
// (models/model_pool.h). What one call computes besides D (the AMED feature) comes back through the
// optional Features out-parameter. Capabilities a model may offer (exact ODE solution, exact data samples,
// density) are separate interfaces reached through exact()/data()/density(), never by dynamic_cast.
#include <cstdint>
#include <functional>
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
  std::string kind;         // registry name ("gaussian_mixture", "vp_eps", ...)
  std::string fingerprint;  // content hash of parameters: part of cache keys
  std::shared_ptr<const NoiseProcess> process = std::make_shared<VeProcess>();
  at::ScalarType dtype = at::kDouble;  // where the parameters live now (converted() changes both)
  at::Device device = at::kCPU;
};

// What one denoise() call may return besides D(x, σ).
struct Features {
  // [B, C, 8, 8]: the AMED predictor's input (its channel mean), as the official code taps the network's
  // last 8×8 encoder block. Left undefined by models that define none.
  at::Tensor map;
};

class ExactOde;
class DataSampler;
class Density;

class Denoiser {
 public:
  virtual ~Denoiser() = default;
  virtual const ModelInfo& info() const = 0;
  // x: [B, *sample_shape]; sigma: [B] per-sample noise levels, same dtype and device as x. Fills
  // out->map when out is given and the model has features.
  virtual at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out = nullptr) const = 0;
  // Whether denoise() fills Features::map (AMED stages that need features check it before any work).
  virtual bool has_features() const { return false; }
  // A copy with its parameters in dtype on device (the model itself is left as it is).
  virtual std::shared_ptr<const Denoiser> converted(at::ScalarType dtype, at::Device device) const = 0;

  virtual const ExactOde* exact() const { return nullptr; }
  virtual const DataSampler* data() const { return nullptr; }
  virtual const Density* density() const { return nullptr; }

  // Class-conditional models (EDM's ImageNet-64 network): the number of classes, 0 for unconditional ones,
  // and the denoiser given one-hot labels [B, num_classes]. Callers reach them through a SeededBatch view,
  // which draws each sample's label from its seed; denoise() of a conditional model is an error.
  virtual int64_t num_classes() const { return 0; }
  virtual at::Tensor denoise_labeled(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& labels,
                                     Features* out = nullptr) const;

  // Latent models (an LDM with its VAE decoder): samples → images, applied before metrics and pictures;
  // the identity for models that sample images directly.
  virtual bool has_decoder() const { return false; }
  virtual at::Tensor decode(const at::Tensor& x) const { return x; }
};

using ModelPtr = std::shared_ptr<const Denoiser>;

// `model` itself when it already lives in dtype on device, else a converted copy.
ModelPtr in_precision(const ModelPtr& model, at::ScalarType dtype, at::Device device);

// Models whose probability-flow ODE solution is known exactly (closed form) or to a reference accuracy far
// below any solver's error: the "exact testbeds" that measure a solver's true error without FID noise.
// Called after each accepted step of a long solve with the fraction of the log σ range done.
using OdeProgress = std::function<void(double fraction)>;

class ExactOde {
 public:
  virtual ~ExactOde() = default;
  // x(σ_to) on the trajectory through x at σ_from, in x's dtype and device; `progress` hears from solves
  // that take steps (closed forms finish at once and say nothing).
  virtual at::Tensor ode_solution(const at::Tensor& x, double sigma_from, double sigma_to,
                                  const OdeProgress& progress = {}) const = 0;
};

// Models that can draw exact samples of their data distribution: the reference of distribution metrics
// (Fréchet distance, sliced Wasserstein) without a sampler's error in it.
class DataSampler {
 public:
  virtual ~DataSampler() = default;
  // [N, *sample_shape] float64 on the CPU, one independent generator per seed.
  virtual at::Tensor sample_data(const std::vector<int64_t>& seeds) const = 0;
};

// Models with an exact data density: the log_likelihood metric.
class Density {
 public:
  virtual ~Density() = default;
  // log p(x) in nats per sample, x [N, *sample_shape] (any dtype; float64 result [N] on the CPU).
  virtual at::Tensor log_density(const at::Tensor& x) const = 0;
};

// σ as the per-sample tensor the interface takes.
at::Tensor sigma_like(const at::Tensor& x, double sigma);
// "[2, 3, 8, 8]" for messages.
std::string shape_text(at::IntArrayRef shape);
// Broadcast a per-sample [B] tensor against x's shape ([B, 1, 1, ...]).
at::Tensor per_sample(const at::Tensor& v, const at::Tensor& x);

// Base of per-run views of a model (counting, timing, feature taps): forwards every member to the inner
// model, so a subclass overrides only what it adds and no capability gets lost on the way.
class DenoiserDecorator : public Denoiser {
 public:
  explicit DenoiserDecorator(const Denoiser& inner) : inner_(inner) {}
  const ModelInfo& info() const override { return inner_.info(); }
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out = nullptr) const override {
    return inner_.denoise(x, sigma, out);
  }
  bool has_features() const override { return inner_.has_features(); }
  // A view converts to a converted copy of the model it views (without the view's own behaviour).
  std::shared_ptr<const Denoiser> converted(at::ScalarType dtype, at::Device device) const override {
    return inner_.converted(dtype, device);
  }
  const ExactOde* exact() const override { return inner_.exact(); }
  const DataSampler* data() const override { return inner_.data(); }
  const Density* density() const override { return inner_.density(); }
  int64_t num_classes() const override { return inner_.num_classes(); }
  bool has_decoder() const override { return inner_.has_decoder(); }
  at::Tensor decode(const at::Tensor& x) const override { return inner_.decode(x); }
  at::Tensor denoise_labeled(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& labels,
                             Features* out = nullptr) const override {
    return inner_.denoise_labeled(x, sigma, labels, out);
  }
  const Denoiser& inner() const { return inner_; }

 protected:
  const Denoiser& inner_;
};

// Counts network evaluations (NFE is what this wrapper saw, never the solver's own arithmetic) and turns
// non-finite model outputs into an error that names the σ and the call. One per sampling run.
class CountingDenoiser : public DenoiserDecorator {
 public:
  explicit CountingDenoiser(const Denoiser& inner, bool check_finite = true)
      : DenoiserDecorator(inner), check_(check_finite) {}
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out = nullptr) const override;
  int64_t nfe() const { return nfe_; }
  void reset() { nfe_ = 0; }

 private:
  bool check_;
  mutable int64_t nfe_ = 0;  // a run's own counter: the view belongs to one sampling run (one thread)
};

// One batch's view of a model: a class-conditional model gets the one-hot labels of the batch's seeds on every
// call (the same seed always has the same class, whatever the batch); an unconditional one is called as it
// is. Made per batch where the seeds are known (teacher, evaluate, sample, training), like CountingDenoiser.
class SeededBatch : public DenoiserDecorator {
 public:
  SeededBatch(const Denoiser& inner, const std::vector<int64_t>& seeds);
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out = nullptr) const override;
  const at::Tensor& labels() const { return labels_; }  // [B, C] float64, undefined when unconditional

 private:
  at::Tensor labels_;
};

// One-hot labels [B, num_classes] (float64, CPU): seed s's class is uniform from its own generator, seeded
// with s + 2^41 (apart from the noise seeds and evaluate's data seeds at 2^40 + i).
at::Tensor class_labels(const std::vector<int64_t>& seeds, int64_t num_classes);

}  // namespace dsx
