// AMED-Solver and AMED-Plugin students (docs/amed.md §5, diff-sampler amed-solver-main/solvers_amed.py).
// All arithmetic is plain torch (no fused/in-place kernels) so that, with grad mode on, x_{i+1} is
// differentiable w.r.t. the predictor through r (intermediate time s), c (scale_dir) and a (scale_time).
// The multistep students run their base solver's step-level form (solvers/multistep.h); the two-stage ones
// share DPM-Solver-2's second-stage weights (solvers/dpm2.h).
#include "amed/student.h"

#include <cmath>

#include "core/error.h"
#include "diffusion/schedule.h"
#include "solvers/dpm2.h"

namespace dsx {

std::shared_ptr<const Solver> student_base(const AmedSettings& s) {
  if (s.student == "amed" || s.student == "dpm2") return nullptr;
  std::map<std::string, RawOption> raw;
  const std::string where = "AMED student settings";
  if ((s.student == "ipndm" || s.student == "dpmpp") && s.base_options.empty())
    raw["max_order"] = {std::to_string(s.max_order), where};
  if (s.student == "dpmpp") {
    raw["predict_x0"] = {s.predict_x0 ? "true" : "false", where};
    raw["lower_order_final"] = {s.lower_order_final ? "true" : "false", where};
  }
  if (!s.base_options.empty()) {  // a non-official base: its own options as the student was trained with
    for (size_t at = 0; at < s.base_options.size();) {
      size_t end = s.base_options.find(';', at);
      if (end == std::string::npos) end = s.base_options.size();
      const std::string kv = s.base_options.substr(at, end - at);
      const size_t eq = kv.find('=');
      if (eq == std::string::npos) fail("AMED: malformed base options '{}'", s.base_options);
      raw[kv.substr(0, eq)] = {kv.substr(eq + 1), where};
      at = end + 1;
    }
  }
  for (const SolverEntry& e : base_solver_entries())
    if (e.name == s.student) {
      std::shared_ptr<const Solver> base = e.make(Options::resolve(all_option_specs(e), raw, "AMED student "));
      if (!base->step_run(3)) fail("AMED: solver '{}' has no step-level form to run as an AMED-Plugin", s.student);
      return base;
    }
  fail("AMED: student '{}' is unknown", s.student);
}

AmedStudent::AmedStudent(AmedSettings settings, std::vector<double> sigmas, AmedPredictor net, FeatureMode features,
                         CommonOptions common, std::shared_ptr<const Solver> base)
    : settings_(std::move(settings)),
      sigmas_(std::move(sigmas)),
      net_(std::move(net)),
      features_(features),
      common_(common),
      base_(base ? std::move(base) : student_base(settings_)) {
  if (net_.is_empty()) fail("AMED: no predictor given");
  validate_sigma_grid(sigmas_, "the AMED sigma grid");
  if (base_) {
    run_ = base_->step_run(2 * int(sigmas_.size()) - 1);
    if (!run_) fail("AMED: the {} student's base solver has no step-level form", settings_.student);
  }
  settings_.scale_dir = net_->scale_dir();
  settings_.scale_time = net_->scale_time();
}

void AmedStudent::reset() {
  if (run_) {
    run_->keep_graph(keep_graph_);
    run_->reset();
  }
  calls_ = 0;
}

at::Tensor AmedStudent::data(const Denoiser& model, const at::Tensor& x, const at::Tensor& sigma, Features* f) {
  at::Tensor d = model.denoise(x, sigma, f);
  ++calls_;
  return common_.dynamic_threshold ? dynamic_threshold(d, common_.threshold_quantile) : d;
}

FeatureMode feature_mode(const std::string& name) {
  if (name == "model") return FeatureMode::Model;
  if (name == "zero") return FeatureMode::Zero;
  if (name == "pooled") return FeatureMode::Pooled;
  fail("AMED features = '{}': one of model, zero, pooled", name);
}

std::string feature_mode_name(FeatureMode m) {
  return m == FeatureMode::Zero ? "zero" : m == FeatureMode::Pooled ? "pooled" : "model";
}

at::Tensor AmedStudent::features(const Features* evaluated, const at::Tensor& x) const {
  const int64_t b = x.size(0);
  if (evaluated && features_ != FeatureMode::Zero) {
    const at::Tensor& fm = evaluated->map;
    if (!fm.defined())  // zeros here would silently turn the predictor into a fixed schedule
      fail(
          "AMED: features: model, but the model gives no feature map (a network needs model.features, the "
          "method returning its 8x8 block); use features: zero for an input-independent predictor");
    if (fm.dim() != 4 || fm.size(0) != b || fm.size(2) != 8 || fm.size(3) != 8)
      fail("AMED: the model's bottleneck feature must be [B={}, C, 8, 8], got {}", b, shape_text(fm.sizes()));
    if (features_ == FeatureMode::Model)
      return fm.detach().mean(1);  // channel mean, as the official hook + mean(dim=1)
    if (!net_->pools() || net_->pool.size(0) != fm.size(1))
      fail("AMED: features: pooled needs a predictor with {} pooling weights (one per feature channel), it has {}",
           fm.size(1), net_->pools() ? net_->pool.size(0) : 0);
    const at::Tensor w = at::softmax(net_->pool, 0).to(fm.scalar_type()).reshape({1, fm.size(1), 1, 1});
    return (fm.detach() * w).sum(1);  // zero logits: the channel mean
  }
  return at::zeros({b, 8, 8}, x.options());
}

at::Tensor AmedStudent::step(const Denoiser& model, const at::Tensor& x, int i, AmedOutput* out) {
  const int n = int(sigmas_.size());
  if (i < 0 || i + 1 >= n) fail("AMED: interval {} is outside the {}-point grid", i, n);
  if (i == 0) reset();
  if (run_ && run_->steps_done() != 2 * i && run_->keeps_history())
    fail("AMED: the {} student needs the intervals in order from 0 (interval {} after {} sub-steps)", settings_.student,
         i, run_->steps_done());
  const double sc = sigmas_[i], sn = sigmas_[i + 1];
  auto ps = [&](const at::Tensor& v) { return per_sample(v, x); };

  // Evaluation at σ_i (or the analytical first step, docs/amed.md §3) and the bottleneck of that evaluation.
  const bool afs = settings_.afs && i == 0;
  at::Tensor D_i;
  Features f_i;
  if (afs) {
    D_i = x - sc * (x / std::sqrt(1.0 + sc * sc));
    if (common_.dynamic_threshold) D_i = dynamic_threshold(D_i, common_.threshold_quantile);
  } else {
    D_i = data(model, x, sigma_like(x, sc), features_ != FeatureMode::Zero ? &f_i : nullptr);
  }
  at::Tensor h = features(afs ? nullptr : &f_i, x);

  AmedOutput o = net_->forward(h, sc, sn);
  at::Tensor r = o.r.to(x.options()), c = o.c.to(x.options()), a = o.a.to(x.options());
  if (out) *out = {r, c, a};
  at::Tensor s = at::pow(sn, r) * at::pow(sc, 1 - r);  // t_mid = σ_{i+1}^r σ_i^{1−r}, per sample [B]

  if (run_) {  // the base solver's steps σ_i → s (its own) and s → σ_{i+1} (model at a·s, outputs scaled by c)
    at::Tensor x_s = run_->step(x, D_i, sigma_like(s, sc), s);
    at::Tensor D_s = data(model, x_s, a * s);
    return run_->step(x_s, D_s, s, sigma_like(s, sn), c);
  }
  // Two-stage students: Euler to s, then the whole interval from x_i along c·(w_cur·d_i + w_mid·d_s).
  at::Tensor S = ps(s), C = ps(c);
  at::Tensor d_i = afs ? x / std::sqrt(1.0 + sc * sc) : (x - D_i) / sc;
  at::Tensor x_s = x + (S - sc) * d_i;
  at::Tensor d_s = (x_s - data(model, x_s, a * s)) / S;
  if (settings_.student == "amed") return x + C * (sn - sc) * d_s;
  const Dpm2Weights<at::Tensor> w = dpm2_weights(ps(r));
  return x + C * (sn - sc) * (w.mid * d_s + w.cur * d_i);
}

at::Tensor AmedStudent::sample(const Denoiser& model, at::Tensor x, const SampleHooks& hooks) {
  reset();
  for (int i = 0; i + 1 < int(sigmas_.size()); ++i) {
    x = step(model, x, i);
    if (hooks.on_step) hooks.on_step({i, sigmas_[i], sigmas_[i + 1], x});
  }
  // A base that owes a correction at the end (UniPC's corrected final warm-up) gets its model call, as the
  // base's own sample() makes it. Training (step by step) leaves it out.
  if (run_ && run_->pending()) x = run_->finish(x, data(model, x, sigma_like(x, sigmas_.back())));
  return x;
}

}  // namespace dsx
