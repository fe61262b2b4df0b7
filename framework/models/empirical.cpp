#include "models/empirical.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/hash.h"
#include "models/reference_ode.h"

namespace dsx {

namespace {
constexpr double kReferenceRtol = 1e-10;  // the reference solve's tolerance: far below any few-step solver's error
}

EmpiricalMixture::EmpiricalMixture(const at::Tensor& images, double std, double sigma_min, double sigma_max,
                                   const std::string& data_fingerprint, int64_t chunk)
    : std_(std), chunk_(chunk) {
  if (images.dim() < 2 || images.size(0) < 1)
    fail("empirical: need images [N, *shape], got {}", c10::str(images.sizes()));
  if (!(std >= 0) || !std::isfinite(std)) fail("empirical: std = {} must be finite and >= 0", std);
  if (chunk < 1) fail("empirical: chunk = {} must be positive", chunk);
  info_.sample_shape.assign(images.sizes().begin() + 1, images.sizes().end());
  images_ = images.to(at::kDouble).reshape({images.size(0), -1}).contiguous();
  norms_ = images_.square().sum(1);
  info_.kind = "empirical";
  info_.sigma_min = sigma_min;
  info_.sigma_max = sigma_max;
  Hasher h;
  h.update(std::string("empirical/v1")).update(data_fingerprint).update(&std, sizeof std);
  info_.fingerprint = h.hex();
}

void EmpiricalMixture::to(at::ScalarType dtype, at::Device device) {
  images_ = images_.to(device);
  norms_ = norms_.to(device);
  info_.dtype = dtype;
  info_.device = device;
}

at::Tensor EmpiricalMixture::posterior_mean(const at::Tensor& xf, const at::Tensor& v) const {
  const int64_t b = xf.size(0), n = size();
  const at::Tensor xx = xf.square().sum(1, true);  // [B, 1]
  at::Tensor m = at::full({b, 1}, -std::numeric_limits<double>::infinity(), xf.options());
  at::Tensor z = at::zeros({b, 1}, xf.options()), acc = at::zeros_like(xf);
  for (int64_t first = 0; first < n; first += chunk_) {
    const int64_t count = std::min(chunk_, n - first);
    const at::Tensor mu = images_.narrow(0, first, count);
    at::Tensor d2 = (xx - 2 * at::mm(xf, mu.t()) + norms_.narrow(0, first, count).unsqueeze(0)).clamp_min_(0);
    at::Tensor logits = d2.div_(-2 * v);  // [B, count]
    at::Tensor m_new = at::maximum(m, std::get<0>(logits.max(1, true)));
    at::Tensor keep = (m - m_new).exp_();  // rescales what earlier chunks summed
    at::Tensor e = (logits - m_new).exp_();
    z = z * keep + e.sum(1, true);
    acc = acc * keep + at::mm(e, mu);
    m = m_new;
  }
  return acc / z;
}

at::Tensor EmpiricalMixture::denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out) const {
  const int64_t b = x.size(0), d = images_.size(1);
  if (x.numel() != b * d) fail("empirical: input has {} values per sample, the model {}", x.numel() / b, d);
  const at::Tensor xf = x.to(at::kDouble).reshape({b, d});
  const at::Tensor s2 = sigma.to(at::kDouble).reshape({b, 1}).square();
  const at::Tensor v = s2 + std_ * std_;
  const at::Tensor mean = posterior_mean(xf, v);
  if (out && has_features()) {
    std::vector<int64_t> img{b};
    img.insert(img.end(), info_.sample_shape.begin(), info_.sample_shape.end());
    out->map = at::adaptive_avg_pool2d(mean.reshape(img), {8, 8}).to(x.scalar_type());
  }
  return ((std_ * std_ / v) * xf + (s2 / v) * mean).reshape(x.sizes()).to(x.scalar_type());
}

bool EmpiricalMixture::has_features() const {
  const auto& s = info_.sample_shape;
  return s.size() == 3 && s[1] >= 8 && s[2] >= 8;
}

at::Tensor EmpiricalMixture::sample_data(const std::vector<int64_t>& seeds) const {
  const auto opt = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor mu = images_.cpu();
  at::Tensor out = at::empty({int64_t(seeds.size()), mu.size(1)}, opt);
  for (size_t i = 0; i < seeds.size(); ++i) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(uint64_t(seeds[i]));
    const int64_t k = std::min<int64_t>(int64_t(at::rand({1}, gen, opt).item<double>() * double(size())), size() - 1);
    out[int64_t(i)].copy_(mu[k] + std_ * at::randn({mu.size(1)}, gen, opt));
  }
  std::vector<int64_t> shape{int64_t(seeds.size())};
  shape.insert(shape.end(), info_.sample_shape.begin(), info_.sample_shape.end());
  return out.reshape(shape);
}

at::Tensor EmpiricalMixture::ode_solution(const at::Tensor& x, double sigma_from, double sigma_to,
                                          const OdeProgress& progress) const {
  OdeSolveOptions o;
  o.rtol = o.atol = kReferenceRtol;
  o.progress = progress;
  return solve_reference_ode(*this, x, sigma_from, sigma_to, o).x.to(x.options());
}

at::Tensor EmpiricalMixture::log_density(const at::Tensor& x) const {
  if (!(std_ > 0)) fail("log_likelihood: the empirical mixture with std 0 has no density (give model.std > 0)");
  const int64_t b = x.size(0), d = images_.size(1);
  const at::Tensor xf = x.to(images_.device(), at::kDouble).reshape({b, d});
  const at::Tensor xx = xf.square().sum(1, true);
  std::vector<at::Tensor> parts;
  for (int64_t first = 0; first < size(); first += chunk_) {
    const int64_t count = std::min(chunk_, size() - first);
    at::Tensor d2 =
        (xx - 2 * at::mm(xf, images_.narrow(0, first, count).t()) + norms_.narrow(0, first, count).unsqueeze(0))
            .clamp_min_(0);
    parts.push_back(at::logsumexp(d2 / (-2 * std_ * std_), {1}));
  }
  const double log_norm = -std::log(double(size())) - 0.5 * double(d) * std::log(2 * M_PI * std_ * std_);
  return (at::logsumexp(at::stack(parts, 1), {1}) + log_norm).cpu();
}

}  // namespace dsx
