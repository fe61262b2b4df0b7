#include "models/gaussian_mixture.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <cmath>

#include "core/error.h"
#include "core/hash.h"
#include "models/mixture_kernel.h"
#include "models/reference_ode.h"
#include "store/h5.h"
#include "store/tensor_h5.h"

namespace dsx {

GaussianMixture::GaussianMixture(at::Tensor means, at::Tensor stds, at::Tensor weights, double sigma_min,
                                 double sigma_max) {
  if (means.dim() < 2) fail("gaussian_mixture: means must be [K, *shape], got {} dimension(s)", means.dim());
  const int64_t k = means.size(0);
  if (stds.dim() != 1 || stds.size(0) != k)
    fail("gaussian_mixture: stds must have shape [{}] to match means [K={}, ...], got {}", k, k,
         shape_text(stds.sizes()));
  if (weights.dim() != 1 || weights.size(0) != k)
    fail("gaussian_mixture: weights must have shape [{}] to match means [K={}, ...], got {}", k, k,
         shape_text(weights.sizes()));
  means = means.to(at::kDouble).cpu();
  stds = stds.to(at::kDouble).cpu();
  weights = weights.to(at::kDouble).cpu();
  if (!at::isfinite(means).all().item<bool>()) fail("gaussian_mixture: means contain NaN/Inf");
  if (!(stds >= 0).all().item<bool>() || !at::isfinite(stds).all().item<bool>())
    fail("gaussian_mixture: stds must be finite and >= 0");
  if (!(weights > 0).all().item<bool>() || !at::isfinite(weights).all().item<bool>())
    fail("gaussian_mixture: weights must be finite and > 0");
  info_.sample_shape.assign(means.sizes().begin() + 1, means.sizes().end());
  means_ = means.reshape({k, -1}).contiguous();
  stds_ = stds.contiguous();
  weights_ = (weights / weights.sum()).contiguous();
  info_.kind = "gaussian_mixture";
  info_.sigma_min = sigma_min;
  info_.sigma_max = sigma_max;
  refresh_info();
}

void GaussianMixture::refresh_info() {
  log_weights_ = weights_.log();
  var64_ = stds_.to(at::kDouble).square().contiguous();
  log_weights64_ = weights_.to(at::kDouble).log().contiguous();
  Hasher h;
  // v3: the fused kernel (float64 distances, new low bits in float32); v2: batch-invariant component blend
  h.update(std::string("gaussian_mixture/v3"));
  for (auto s : info_.sample_shape) h.update(&s, sizeof s);
  for (const at::Tensor* t : {&means_, &stds_, &weights_}) {
    at::Tensor c = t->to(at::kDouble).cpu().contiguous();
    h.update(c.data_ptr<double>(), c.numel() * sizeof(double));
  }
  info_.fingerprint = h.hex();
}

void GaussianMixture::to(at::ScalarType dtype, at::Device device) {
  means_ = means_.to(device, dtype);
  stds_ = stds_.to(device, dtype);
  weights_ = weights_.to(device, dtype);
  log_weights_ = weights_.log();
  info_.dtype = dtype;
  info_.device = device;
}

namespace {
// Responsibilities [B, K] as the [B, 1, 8, 8] feature map: component k in slot k mod 64.
at::Tensor responsibility_slots(const at::Tensor& w) {
  if (!w.defined()) return {};
  const int64_t b = w.size(0), k = w.size(1);
  at::Tensor slots = at::zeros({b, 64}, w.options());
  if (k <= 64) {
    slots.narrow(1, 0, k).copy_(w);
  } else {
    at::Tensor index = (at::arange(k, w.options().dtype(at::kLong)) % 64).unsqueeze(0).expand({b, k});
    slots.scatter_add_(1, index, w);
  }
  return slots.reshape({b, 1, 8, 8});
}
}  // namespace

at::Tensor GaussianMixture::denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out) const {
  const int64_t b = x.size(0), d = dim();
  if (x.numel() != b * d) fail("gaussian_mixture: input has {} values per sample, the model {}", x.numel() / b, d);
  const bool needs_graph = at::GradMode::is_enabled() && (x.requires_grad() || sigma.requires_grad());
  const bool kernel = x.device().is_cpu() && means_.device().is_cpu() && x.scalar_type() == means_.scalar_type() &&
                      (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble) && !needs_graph;
  return kernel ? denoise_fused(x, sigma, out) : denoise_formula(x, sigma, out);
}

at::Tensor GaussianMixture::denoise_fused(const at::Tensor& x, const at::Tensor& sigma, Features* out) const {
  const int64_t b = x.size(0), k = num_components(), d = dim();
  const at::Tensor xc = x.contiguous();
  const at::Tensor sig = sigma.to(at::kDouble).reshape({b}).contiguous();
  at::Tensor result = at::empty_like(xc);
  at::Tensor resp = out ? at::empty({b, k}, x.options()) : at::Tensor();
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 16) / (k * d));  // rows per task: ≥ 64k flops
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gaussian_mixture", [&] {
    const kernels::IsotropicMixture<scalar_t> m{means_.data_ptr<scalar_t>(), var64_.data_ptr<double>(),
                                                log_weights64_.data_ptr<double>(), k, d};
    at::parallel_for(0, b, grain, [&](int64_t lo, int64_t hi) {
      kernels::isotropic_mixture_denoise(m, xc.data_ptr<scalar_t>(), sig.data_ptr<double>(),
                                         result.data_ptr<scalar_t>(), out ? resp.data_ptr<scalar_t>() : nullptr, lo,
                                         hi);
    });
  });
  if (out) out->map = responsibility_slots(resp);
  return result;
}

void GaussianMixture::denoise_row(const double* x, double sigma, double* out) const {
  if (means_.scalar_type() != at::kDouble || !means_.device().is_cpu())
    fail("gaussian_mixture: denoise_row needs the float64 CPU model");
  const kernels::IsotropicMixture<double> m{means_.data_ptr<double>(), var64_.data_ptr<double>(),
                                            log_weights64_.data_ptr<double>(), num_components(), dim()};
  kernels::isotropic_mixture_denoise(m, x, &sigma, out, static_cast<double*>(nullptr), 0, 1);
}

RowDenoiser GaussianMixture::row_denoiser() const {
  return [this](const double* x, double sigma, double* out) { denoise_row(x, sigma, out); };
}

at::Tensor GaussianMixture::denoise_formula(const at::Tensor& x, const at::Tensor& sigma, Features* out) const {
  const int64_t b = x.size(0), k = num_components(), d = dim();
  at::Tensor xf = x.reshape({b, d});
  // Squared distances by direct differences (not |x|²−2x·μ+|μ|², which cancels badly at small σ).
  at::Tensor d2 = at::empty({b, k}, x.options());
  for (int64_t j = 0; j < k; ++j) d2.select(1, j).copy_((xf - means_[j]).square().sum(1));
  at::Tensor s2 = stds_.square().unsqueeze(0);         // [1, K]
  at::Tensor v = s2 + sigma.reshape({b, 1}).square();  // [B, K]
  at::Tensor logits = log_weights_.unsqueeze(0) - 0.5 * double(d) * at::log(2 * M_PI * v) - d2 / (2 * v);
  at::Tensor w = at::softmax(logits, 1);
  if (out) out->map = responsibility_slots(w.detach());
  // D = x·Σ_k w_k s_k²/v_k + Σ_k w_k (σ²/v_k) μ_k
  at::Tensor a = (w * s2 / v).sum(1, true);
  // Σ_k c_k μ_k as K fused passes in a fixed order, not a matmul: OpenBLAS's sgemm gives a row other low bits
  // when the other rows of the batch change (measured here), and a seed must give the same sample in any batch.
  at::Tensor c = w * (1 - s2 / v);
  at::Tensor mix = c.select(1, 0).unsqueeze(1) * means_[0];
  for (int64_t j = 1; j < k; ++j) mix.addcmul_(c.select(1, j).unsqueeze(1), means_[j]);
  return (a * xf + mix).reshape(x.sizes());
}

at::Tensor GaussianMixture::log_density(const at::Tensor& samples) const {
  const int64_t k = num_components(), d = dim();
  at::Tensor x = samples.to(at::kCPU, at::kDouble).reshape({samples.size(0), -1});
  if (x.size(1) != d) fail("log_likelihood: samples have {} values each, the model {}", x.size(1), d);
  at::Tensor mu = means_.to(at::kCPU, at::kDouble), s = stds_.to(at::kCPU, at::kDouble);
  at::Tensor logw = weights_.to(at::kCPU, at::kDouble).log();
  if (!(s > 0).all().item<bool>()) fail("log_likelihood: the mixture has a component with std 0 (no density)");
  // Direct differences per component, not |x|² − 2x·μ + |μ|², which cancels for samples near a mean.
  at::Tensor d2 = at::empty({x.size(0), k}, at::kDouble);
  for (int64_t j = 0; j < k; ++j) d2.select(1, j).copy_((x - mu[j]).square().sum(1));
  at::Tensor v = s.square().unsqueeze(0);  // [1, K]
  at::Tensor logits = logw.unsqueeze(0) - 0.5 * double(d) * at::log(2 * M_PI * v) - d2 / (2 * v);
  return at::logsumexp(logits, {1});
}

std::unique_ptr<GaussianMixture> GaussianMixture::load_h5(const std::string& path, double sigma_min, double sigma_max) {
  h5::File f = h5::File::open(path);
  for (const char* name : {"means", "stds", "weights"})
    if (!f.has(name))
      fail("{}: dataset '{}' not found (a gaussian_mixture file holds means, stds, weights)", path, name);
  try {
    return std::make_unique<GaussianMixture>(h5::read_tensor(f, "means"), h5::read_tensor(f, "stds"),
                                             h5::read_tensor(f, "weights"), sigma_min, sigma_max);
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
}

void GaussianMixture::save_h5(const std::string& path) const {
  h5::AtomicPath out(path);
  {
    h5::File f = h5::File::create(out.temp());
    std::vector<int64_t> shape{num_components()};
    shape.insert(shape.end(), info_.sample_shape.begin(), info_.sample_shape.end());
    h5::write_tensor(f, "means", means_.to(at::kDouble).reshape(shape));
    h5::write_tensor(f, "stds", stds_.to(at::kDouble));
    h5::write_tensor(f, "weights", weights_.to(at::kDouble));
    f.close();
  }
  out.commit();
}

std::unique_ptr<GaussianMixture> GaussianMixture::random(int64_t k, std::vector<int64_t> shape, uint64_t seed,
                                                         double spread, double std_lo, double std_hi) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<int64_t> full{k};
  full.insert(full.end(), shape.begin(), shape.end());
  auto opt = at::TensorOptions().dtype(at::kDouble);
  at::Tensor means = spread * at::randn(full, gen, opt);
  at::Tensor stds = std_lo + (std_hi - std_lo) * at::rand({k}, gen, opt);
  at::Tensor weights = 0.5 + at::rand({k}, gen, opt);
  return std::make_unique<GaussianMixture>(means, stds, weights);
}

at::Tensor GaussianMixture::sample_data(const std::vector<int64_t>& seeds) const {
  at::Tensor mu = means_.to(at::kDouble).cpu(), sd = stds_.to(at::kDouble).cpu();
  at::Tensor cdf = weights_.to(at::kDouble).cpu().cumsum(0);
  std::vector<int64_t> shape{int64_t(seeds.size())};
  shape.insert(shape.end(), info_.sample_shape.begin(), info_.sample_shape.end());
  at::Tensor out = at::empty({int64_t(seeds.size()), dim()}, at::kDouble);
  auto opt = at::TensorOptions().dtype(at::kDouble);
  for (size_t i = 0; i < seeds.size(); ++i) {
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(uint64_t(seeds[i]));
    double u = at::rand({1}, gen, opt).item<double>() * cdf[-1].item<double>();
    int64_t comp = std::min<int64_t>(at::searchsorted(cdf, u).item<int64_t>(), num_components() - 1);
    out[int64_t(i)].copy_(mu[comp] + sd[comp] * at::randn({dim()}, gen, opt));
  }
  return out.reshape(shape).to(means_.options());
}

at::Tensor GaussianMixture::ode_solution(const at::Tensor& x, double sigma_from, double sigma_to,
                                         const OdeProgress& progress) const {
  at::Tensor xd = x.to(at::kDouble).cpu();
  if (num_components() == 1) {
    // x(σ) = μ + (x_T − μ)·sqrt(s² + σ²)/sqrt(s² + σ_T²)
    at::Tensor mu = means_[0].to(at::kDouble).cpu().reshape(x.sizes().slice(1));
    double s2 = std::pow(stds_[0].item<double>(), 2);
    double ratio = std::sqrt(s2 + sigma_to * sigma_to) / std::sqrt(s2 + sigma_from * sigma_from);
    return (mu + (xd - mu) * ratio).to(x.options());
  }
  GaussianMixture exact(means_, stds_, weights_, info_.sigma_min, info_.sigma_max);  // float64 CPU copy
  OdeSolveOptions o;
  o.rtol = o.atol = reference_rtol_;
  o.per_row = true;
  o.row_denoiser = exact.row_denoiser();
  o.progress = progress;
  return solve_reference_ode(exact, xd, sigma_from, sigma_to, o).x.to(x.options());
}

}  // namespace dsx
