#pragma once
// The AMED predictor (Zhou et al. 2024; docs/amed.md §6): ~9k parameters that map (bottleneck feature,
// σ_i, σ_{i+1}) to the intermediate-time ratio r and the scale factors c (scale_dir) and a (scale_time).
// Parameter names, shapes ([out, in]) and initialisation follow the official implementation.
#include <optional>
#include <string>

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include "amed/settings.h"

namespace dsx {

struct AmedOutput {
  at::Tensor r;  // [B] in (0, 1): s = σ_{i+1}^r σ_i^{1−r}
  at::Tensor c;  // [B] scale_dir factor (ones when the head is absent)
  at::Tensor a;  // [B] scale_time factor (ones when the head is absent)
};

class AmedPredictorImpl : public torch::nn::Module {
 public:
  // scale_dir / scale_time: half-widths a_d, a_t of the output ranges; a head exists iff its value > 0.
  AmedPredictorImpl(double scale_dir, double scale_time);
  // h: [B, 8, 8] channel-mean bottleneck (zeros under AFS or features: zero); raw σ values.
  AmedOutput forward(const at::Tensor& h, double sigma_cur, double sigma_next);

  // Learned channel pooling of the feature map (features: pooled): softmax weights over its C channels,
  // registered before training (C comes from the model); zero logits give the official channel mean.
  void enable_pooling(int64_t channels);
  bool pools() const { return pool.defined(); }
  at::Tensor pool;

  double scale_dir() const { return scale_dir_; }
  double scale_time() const { return scale_time_; }
  int64_t parameter_count() const;

  torch::nn::Linear map_layer0{nullptr}, enc_layer0{nullptr}, enc_layer1{nullptr}, fc_r{nullptr};
  torch::nn::Linear fc_scale_dir{nullptr}, fc_scale_time{nullptr};

 private:
  double scale_dir_, scale_time_;
};
TORCH_MODULE(AmedPredictor);

// The predictor's time input: EDM's 8-channel sinusoidal embedding of the raw σ with f_k = 10000^(−k/3),
// [cos(σf), sin(σf)] swapped to [sin(σf), cos(σf)]; [1, 8] in `opts` (float32 in the official code).
at::Tensor amed_time_embedding(double sigma, const at::TensorOptions& opts);

// HDF5 weights file: one dataset per parameter with the official names ("map_layer0.weight", ...),
// attributes scale_dir, scale_time and, when given, every sampling setting (self-describing checkpoint).
void save_predictor(AmedPredictor& net, const AmedSettings* settings, const std::string& path);

struct LoadedPredictor {
  AmedPredictor net{nullptr};
  std::optional<AmedSettings> settings;  // absent for a parameters-only file
};
LoadedPredictor load_predictor(const std::string& path);

}  // namespace dsx
