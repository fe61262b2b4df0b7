#include "models/denoiser.h"

#include "core/error.h"

namespace dsx {

ModelPtr in_precision(const ModelPtr& model, at::ScalarType dtype, at::Device device) {
  const ModelInfo& info = model->info();
  if (info.dtype == dtype && info.device == device) return model;
  return model->converted(dtype, device);
}

at::Tensor sigma_like(const at::Tensor& x, double sigma) { return at::full({x.size(0)}, sigma, x.options()); }

std::string shape_text(at::IntArrayRef shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

at::Tensor per_sample(const at::Tensor& v, const at::Tensor& x) {
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = x.size(0);
  return v.reshape(shape);
}

at::Tensor CountingDenoiser::denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out) const {
  ++nfe_;
  at::Tensor d = inner_.denoise(x, sigma, out);
  if (check_ && !at::isfinite(d).all().item<bool>()) {
    fail("model '{}' returned NaN/Inf at evaluation {} (sigma in [{}, {}])", inner_.info().kind, nfe_,
         sigma.min().item<double>(), sigma.max().item<double>());
  }
  return d;
}

}  // namespace dsx
