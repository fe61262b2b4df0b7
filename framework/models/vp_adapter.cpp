#include "models/vp_adapter.h"

#include <cmath>

#include "core/error.h"

namespace dsx {

Prediction parse_prediction(const std::string& name) {
  if (name == "eps") return Prediction::Eps;
  if (name == "x0") return Prediction::X0;
  if (name == "v") return Prediction::V;
  fail("prediction = '{}' is unknown; allowed: eps, x0, v", name);
}

VpDenoiser::VpDenoiser(std::shared_ptr<const VpNetwork> net, Prediction prediction, ModelInfo info)
    : net_(std::move(net)), prediction_(prediction), info_(std::move(info)) {
  if (!info_.process || info_.process->is_variance_exploding())
    fail("VpDenoiser needs a VP noise process, got '{}'", info_.process ? info_.process->kind() : "none");
}

at::Tensor VpDenoiser::denoise(const at::Tensor& x, const at::Tensor& sigma, Features* features) const {
  // Time conversion is host-side double math on B scalars; tensors stay on x's device.
  at::Tensor s_host = sigma.to(at::kDouble).cpu().contiguous();
  const double* s = s_host.data_ptr<double>();
  const int64_t b = s_host.numel();
  at::Tensor alpha = at::empty({b}, at::kDouble), label = at::empty({b}, at::kDouble);
  for (int64_t i = 0; i < b; ++i) {
    alpha[i] = 1.0 / std::sqrt(1.0 + s[i] * s[i]);
    label[i] = info_.process->model_time(info_.process->t_of_sigma_hat(s[i]));
  }
  alpha = per_sample(alpha.to(x.options()), x);
  at::Tensor sig = per_sample(sigma, x);
  at::Tensor x_vp = alpha * x;
  at::Tensor out = features && net_->has_features()
                       ? net_->forward_features(x_vp, label.to(x.options()), &features->map)
                       : net_->forward(x_vp, label.to(x.options()));
  switch (prediction_) {
    case Prediction::Eps: return x - sig * out;
    case Prediction::X0: return out;
    case Prediction::V: return alpha * x_vp - (sig * alpha) * out;  // x0 = α x_vp − σ_vp v
  }
  return out;
}

std::shared_ptr<const Denoiser> VpDenoiser::converted(at::ScalarType dtype, at::Device device) const {
  ModelInfo info = info_;
  info.dtype = dtype;
  info.device = device;
  return std::make_shared<VpDenoiser>(net_->converted(dtype, device), prediction_, info);
}

}  // namespace dsx
