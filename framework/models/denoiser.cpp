#include "models/denoiser.h"

#include <ATen/CPUGeneratorImpl.h>

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

at::Tensor Denoiser::denoise_labeled(const at::Tensor&, const at::Tensor&, const at::Tensor&, Features*) const {
  fail("model '{}' is not class-conditional: it takes no labels", info().kind);
}

at::Tensor class_labels(const std::vector<int64_t>& seeds, int64_t num_classes) {
  at::Tensor out = at::zeros({int64_t(seeds.size()), num_classes}, at::kDouble);
  for (size_t i = 0; i < seeds.size(); ++i) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(uint64_t(seeds[i]) + (uint64_t(1) << 41));
    out[int64_t(i)][at::randint(num_classes, {1}, gen, at::kLong).item<int64_t>()] = 1.0;
  }
  return out;
}

SeededBatch::SeededBatch(const Denoiser& inner, const std::vector<int64_t>& seeds) : DenoiserDecorator(inner) {
  if (inner.num_classes() > 0) labels_ = class_labels(seeds, inner.num_classes());
}

at::Tensor SeededBatch::denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out) const {
  if (!labels_.defined()) return inner_.denoise(x, sigma, out);
  if (x.size(0) != labels_.size(0))
    fail("internal: a batch of {} samples called a class-conditional model with {} labels", x.size(0), labels_.size(0));
  return inner_.denoise_labeled(x, sigma, labels_.to(x.options()), out);
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
