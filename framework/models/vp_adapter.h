#pragma once
// Turns a VP network (ε-, x0- or v-prediction, fed x_vp = α x̂ and its time label) into an EDM denoiser:
// α = 1/sqrt(1+σ̂²), t = t(σ̂), D = x̂ − σ̂·ε (docs/solvers.md §1.1, §1.3). Solvers never see VP variables.
#include <memory>
#include <string>

#include "models/denoiser.h"

namespace dsx {

class VpNetwork {
 public:
  virtual ~VpNetwork() = default;
  // x_vp: [B, ...]; t_label: [B] model input times (process->model_time(t)).
  // Stateless and safe from several threads, like Denoiser::denoise.
  virtual at::Tensor forward(const at::Tensor& x_vp, const at::Tensor& t_label) const = 0;
  // The same evaluation with its AMED feature map [B, C, 8, 8] in *map (networks that have one override this
  // and has_features(); the default has none).
  virtual at::Tensor forward_features(const at::Tensor& x_vp, const at::Tensor& t_label, at::Tensor* map) const {
    (void)map;
    return forward(x_vp, t_label);
  }
  virtual bool has_features() const { return false; }
  // A copy with its parameters in dtype on device.
  virtual std::shared_ptr<const VpNetwork> converted(at::ScalarType dtype, at::Device device) const = 0;
};

enum class Prediction { Eps, X0, V };
Prediction parse_prediction(const std::string& name);  // "eps" | "x0" | "v"

class VpDenoiser : public Denoiser {
 public:
  // `info.process` must be a VP process; its σ̂ range bounds the σ a caller may pass.
  VpDenoiser(std::shared_ptr<const VpNetwork> net, Prediction prediction, ModelInfo info);
  const ModelInfo& info() const override { return info_; }
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out = nullptr) const override;
  bool has_features() const override { return net_->has_features(); }
  std::shared_ptr<const Denoiser> converted(at::ScalarType dtype, at::Device device) const override;

 private:
  std::shared_ptr<const VpNetwork> net_;
  Prediction prediction_;
  ModelInfo info_;
};

}  // namespace dsx
