// AMED-Solver and AMED-Plugin students (docs/amed.md §5, diff-sampler amed-solver-main/solvers_amed.py).
// All arithmetic is plain torch (no fused/in-place kernels) so that, with grad mode on, x_{i+1} is
// differentiable w.r.t. the predictor through r (intermediate time s), c (scale_dir) and a (scale_time).
#include "amed/student.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "diffusion/schedule.h"
#include "solvers/ipndm.h"

namespace dsx {
namespace {

bool multistep(const std::string& student) { return student == "ipndm" || student == "dpmpp"; }

}  // namespace

AmedStudent::AmedStudent(AmedSettings settings, std::vector<double> sigmas, AmedPredictor net, FeatureMode features,
                         CommonOptions common)
    : settings_(std::move(settings)), sigmas_(std::move(sigmas)), net_(std::move(net)), features_(features),
      common_(common) {
  const std::string& st = settings_.student;
  if (st != "amed" && st != "euler" && st != "dpm2" && st != "ipndm" && st != "dpmpp")
    fail("AMED: student '{}' is unknown; allowed: amed, euler, dpm2, ipndm, dpmpp", st);
  if (net_.is_empty()) fail("AMED: no predictor given");
  validate_sigma_grid(sigmas_, "the AMED sigma grid");
  if (st == "ipndm" && (settings_.max_order < 1 || settings_.max_order > 4))
    fail("AMED: ipndm student max_order = {} is not in [1, 4]", settings_.max_order);
  if (st == "dpmpp" && (settings_.max_order < 1 || settings_.max_order > 3))
    fail("AMED: dpmpp student max_order = {} is not in [1, 3]", settings_.max_order);
  settings_.scale_dir = net_->scale_dir();
  settings_.scale_time = net_->scale_time();
}

void AmedStudent::reset() {
  history_.clear();
  history_sigma_.clear();
  calls_ = 0;
}

at::Tensor AmedStudent::data(const Denoiser& model, const at::Tensor& x, const at::Tensor& sigma, Features* f) {
  at::Tensor d = model.denoise(x, sigma, f);
  ++calls_;
  return common_.dynamic_threshold ? dynamic_threshold(d, common_.threshold_quantile) : d;
}

at::Tensor AmedStudent::features(const Features* evaluated, const at::Tensor& x) const {
  const int64_t b = x.size(0);
  if (evaluated && features_ == FeatureMode::Model) {
    const at::Tensor& fm = evaluated->map;
    if (fm.defined()) {
      if (fm.dim() != 4 || fm.size(0) != b || fm.size(2) != 8 || fm.size(3) != 8)
        fail("AMED: the model's bottleneck feature must be [B={}, C, 8, 8], got {}", b, shape_text(fm.sizes()));
      return fm.detach().mean(1);  // channel mean, as the official hook + mean(dim=1)
    }
  }
  return at::zeros({b, 8, 8}, x.options());
}

void AmedStudent::push(const at::Tensor& m, const at::Tensor& sigma, size_t keep) {
  history_.push_back(m);
  history_sigma_.push_back(sigma);
  while (history_.size() > keep) {
    history_.erase(history_.begin());
    history_sigma_.erase(history_sigma_.begin());
  }
}

at::Tensor AmedStudent::ab_slope(const at::Tensor& d) const {
  const int order = std::min<int>(settings_.max_order, int(history_.size()) + 1);
  const std::vector<double> w = ipndm_weights(order);
  at::Tensor slope = w[0] * d;
  for (int k = 1; k < order; ++k) slope = slope + w[k] * history_[history_.size() - k];
  return slope;
}

at::Tensor AmedStudent::dpmpp_update(const at::Tensor& x, const at::Tensor& t, int order,
                                     const at::Tensor& scale) const {
  // docs/amed.md §4 "DPM-Solver++ multistep, VE form", every σ-dependent factor per sample ([B] → [B,1,..]).
  const size_t n = history_.size();
  if (order < 1 || size_t(order) > n) fail("AMED dpmpp: internal error, order {} with {} history values", order, n);
  auto ps = [&](const at::Tensor& v) { return per_sample(v, x); };
  const bool x0 = settings_.predict_x0;
  const at::Tensor& s0 = history_sigma_[n - 1];
  const at::Tensor& m0 = history_[n - 1];
  at::Tensor h = at::log(s0 / t);
  at::Tensor phi1 = x0 ? at::expm1(-h) : at::expm1(h);
  at::Tensor lead = x0 ? at::ones_like(t) : t;  // noise-form terms carry a factor σ_t
  at::Tensor incr = ps(lead * phi1) * m0;
  if (order == 2) {
    at::Tensor r0 = at::log(history_sigma_[n - 2] / s0) / h;
    at::Tensor d1_0 = (m0 - history_[n - 2]) / ps(r0);
    incr = incr + ps(0.5 * lead * phi1) * d1_0;
  } else if (order == 3) {
    at::Tensor r0 = at::log(history_sigma_[n - 2] / s0) / h;
    at::Tensor r1 = at::log(history_sigma_[n - 3] / history_sigma_[n - 2]) / h;
    at::Tensor d1_0 = (m0 - history_[n - 2]) / ps(r0);
    at::Tensor d1_1 = (history_[n - 2] - history_[n - 3]) / ps(r1);
    at::Tensor d1 = d1_0 + ps(r0 / (r0 + r1)) * (d1_0 - d1_1);
    at::Tensor d2 = (d1_0 - d1_1) / ps(r0 + r1);
    at::Tensor phi2 = x0 ? phi1 / h + 1 : phi1 / h - 1;
    at::Tensor phi3 = phi2 / h - 0.5;
    // data: φ1 m0 − φ2 D1 + φ3 D2;  noise: σ_t(φ1 m0 + φ2 D1 + φ3 D2)
    incr = x0 ? incr - ps(phi2) * d1 + ps(phi3) * d2 : incr + ps(lead * phi2) * d1 + ps(lead * phi3) * d2;
  }
  if (scale.defined()) incr = ps(scale) * incr;
  return x0 ? ps(t / s0) * x - incr : x - incr;
}

at::Tensor AmedStudent::step(const Denoiser& model, const at::Tensor& x, int i, AmedOutput* out) {
  const int n = int(sigmas_.size());
  if (i < 0 || i + 1 >= n) fail("AMED: interval {} is outside the {}-point grid", i, n);
  const std::string& st = settings_.student;
  if (i == 0) reset();
  if (multistep(st) && i > 0 && history_.empty() && !(st == "ipndm" && settings_.max_order == 1))
    fail("AMED: the {} student needs the intervals in order from 0 (no history at interval {})", st, i);
  const double sc = sigmas_[i], sn = sigmas_[i + 1];
  auto ps = [&](const at::Tensor& v) { return per_sample(v, x); };

  // Evaluation at σ_i (or the analytical first step, docs/amed.md §3) and the bottleneck of that evaluation.
  const bool afs = settings_.afs && i == 0;
  at::Tensor d_i, D_i;
  Features f_i;
  if (afs) {
    d_i = x / std::sqrt(1.0 + sc * sc);
    D_i = x - sc * d_i;
    if (common_.dynamic_threshold) D_i = dynamic_threshold(D_i, common_.threshold_quantile);
  } else {
    D_i = data(model, x, sigma_like(x, sc), features_ == FeatureMode::Model ? &f_i : nullptr);
    d_i = (x - D_i) / sc;
  }
  at::Tensor h = features(afs ? nullptr : &f_i, x);

  AmedOutput o = net_->forward(h, sc, sn);
  at::Tensor r = o.r.to(x.options()), c = o.c.to(x.options()), a = o.a.to(x.options());
  if (out) *out = {r, c, a};
  at::Tensor s = at::pow(sn, r) * at::pow(sc, 1 - r);  // t_mid = σ_{i+1}^r σ_i^{1−r}, per sample [B]
  at::Tensor S = ps(s), C = ps(c);

  at::Tensor x_next;
  if (st == "amed" || st == "euler" || st == "dpm2") {
    at::Tensor x_s = x + (S - sc) * d_i;
    at::Tensor d_s = (x_s - data(model, x_s, a * s)) / S;
    if (st == "amed") {
      x_next = x + C * (sn - sc) * d_s;
    } else if (st == "euler") {
      x_next = x_s + C * (sn - S) * d_s;
    } else {
      at::Tensor w_mid = 1.0 / (2.0 * ps(r));
      x_next = x + C * (sn - sc) * (w_mid * d_s + (1.0 - w_mid) * d_i);
    }
  } else if (st == "ipndm") {
    const size_t keep = size_t(std::max(settings_.max_order - 1, 0));
    at::Tensor x_s = x + (S - sc) * ab_slope(d_i);
    push(d_i, sigma_like(s, sc), keep);
    at::Tensor d_s = (x_s - data(model, x_s, a * s)) / S;
    x_next = x_s + C * (sn - S) * ab_slope(d_s);
    push(d_s, s, keep);
  } else {  // dpmpp on the refined grid of 2N − 1 points, sub-steps k = 2i+1 and 2i+2
    const int total = 2 * n - 1, p = settings_.max_order;
    auto order = [&](int k) {
      if (settings_.lower_order_final) return k < p ? k : std::min(p, total - k);
      return std::min(p, k);
    };
    push(settings_.predict_x0 ? D_i : d_i, sigma_like(s, sc), 3);
    at::Tensor x_s = dpmpp_update(x, s, order(2 * i + 1), at::Tensor());
    at::Tensor D_s = data(model, x_s, a * s);
    push(settings_.predict_x0 ? D_s : (x_s - D_s) / S, s, 3);
    x_next = dpmpp_update(x_s, sigma_like(s, sn), order(2 * i + 2), c);
  }
  // The history carries values into later intervals only; gradients stay within one interval.
  for (auto& t : history_) t = t.detach();
  for (auto& t : history_sigma_) t = t.detach();
  return x_next;
}

at::Tensor AmedStudent::sample(const Denoiser& model, at::Tensor x, const SampleHooks& hooks) {
  reset();
  for (int i = 0; i + 1 < int(sigmas_.size()); ++i) {
    x = step(model, x, i);
    if (hooks.on_step) hooks.on_step({i, sigmas_[i], sigmas_[i + 1], x});
  }
  return x;
}

}  // namespace dsx
