#include "models/diagonal_gaussian.h"

#include <ATen/CPUGeneratorImpl.h>

#include "core/error.h"
#include "core/hash.h"

namespace dsx {

DiagonalGaussian::DiagonalGaussian(at::Tensor mean, at::Tensor std, double sigma_min, double sigma_max)
    : mean_(mean.to(at::kDouble).contiguous()), std_(std.to(at::kDouble).contiguous()) {
  if (!mean_.sizes().equals(std_.sizes()))
    fail("diagonal_gaussian: mean {} and std {} must have the same shape", shape_text(mean_.sizes()),
         shape_text(std_.sizes()));
  info_.sample_shape.assign(mean_.sizes().begin(), mean_.sizes().end());
  info_.kind = "diagonal_gaussian";
  info_.sigma_min = sigma_min;
  info_.sigma_max = sigma_max;
  Hasher h;
  h.update(std::string("diagonal_gaussian/v1"));
  h.update(mean_.data_ptr<double>(), mean_.numel() * sizeof(double));
  h.update(std_.data_ptr<double>(), std_.numel() * sizeof(double));
  info_.fingerprint = h.hex();
}

void DiagonalGaussian::to(at::ScalarType dtype, at::Device device) {
  mean_ = mean_.to(device, dtype);
  std_ = std_.to(device, dtype);
  info_.dtype = dtype;
  info_.device = device;
}

at::Tensor DiagonalGaussian::denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out) const {
  if (out && has_features()) out->map = feature_of(x.detach(), sigma.detach());
  at::Tensor s2 = std_.square(), v = s2 + per_sample(sigma, x).square();
  return mean_ + s2 / v * (x - mean_);
}

bool DiagonalGaussian::has_features() const {
  const auto& shape = info_.sample_shape;
  const size_t n = shape.size();
  return n >= 2 && n <= 3 && shape[n - 1] == 8 && shape[n - 2] == 8;
}

at::Tensor DiagonalGaussian::log_density(const at::Tensor& samples) const {
  at::Tensor mu = mean_.to(at::kCPU, at::kDouble).reshape({1, -1});
  at::Tensor s = std_.to(at::kCPU, at::kDouble).reshape({1, -1});
  at::Tensor x = samples.to(at::kCPU, at::kDouble).reshape({samples.size(0), -1});
  if (x.size(1) != mu.size(1)) fail("log_likelihood: samples have {} values each, the model {}", x.size(1), mu.size(1));
  if (!(s > 0).all().item<bool>()) fail("log_likelihood: the Gaussian has an element with std 0 (no density)");
  return (-0.5 * at::log(2 * M_PI * s.square()) - (x - mu).square() / (2 * s.square())).sum(1);
}

at::Tensor DiagonalGaussian::feature_of(const at::Tensor& x, const at::Tensor& sigma) const {
  const auto& shape = info_.sample_shape;
  const size_t n = shape.size();
  at::Tensor f = x / at::sqrt(1 + per_sample(sigma, x).square());
  return f.reshape({x.size(0), n == 3 ? shape[0] : 1, 8, 8});
}

at::Tensor DiagonalGaussian::sample_data(const std::vector<int64_t>& seeds) const {
  at::Tensor mu = mean_.to(at::kDouble).cpu().flatten(), sd = std_.to(at::kDouble).cpu().flatten();
  std::vector<int64_t> shape{int64_t(seeds.size())};
  shape.insert(shape.end(), info_.sample_shape.begin(), info_.sample_shape.end());
  at::Tensor out = at::empty({int64_t(seeds.size()), mu.numel()}, at::kDouble);
  for (size_t i = 0; i < seeds.size(); ++i) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(uint64_t(seeds[i]));
    out[int64_t(i)].copy_(mu + sd * at::randn({mu.numel()}, gen, at::TensorOptions().dtype(at::kDouble)));
  }
  return out.reshape(shape);
}

at::Tensor DiagonalGaussian::ode_solution(const at::Tensor& x, double sigma_from, double sigma_to,
                                          const OdeProgress&) const {
  at::Tensor mu = mean_.to(at::kDouble).cpu(), s2 = std_.to(at::kDouble).cpu().square();
  at::Tensor ratio = at::sqrt(s2 + sigma_to * sigma_to) / at::sqrt(s2 + sigma_from * sigma_from);
  return (mu + (x.to(at::kDouble).cpu() - mu) * ratio).to(x.options());
}

}  // namespace dsx
