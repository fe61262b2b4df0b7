#include "diffusion/noise_process.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/hash.h"

namespace dsx {

double NoiseProcess::alpha(double t) const { return std::exp(log_alpha(t)); }
double NoiseProcess::sigma(double t) const { return alpha(t) * sigma_hat(t); }
double NoiseProcess::lambda(double t) const { return -std::log(sigma_hat(t)); }

namespace {
// σ̂ from log α: σ̂² = α^{-2} − 1 = expm1(−2 log α), exact for tiny t.
double sigma_hat_from_log_alpha(double log_alpha) { return std::sqrt(std::expm1(-2.0 * log_alpha)); }
// log α from σ̂ (α² = 1/(1+σ̂²)).
double log_alpha_from_sigma_hat(double s) { return -0.5 * std::log1p(s * s); }
}  // namespace

// ---- VP linear ---------------------------------------------------------------------------------------
VpLinearProcess::VpLinearProcess(double beta0, double beta1, double t_end)
    : beta0_(beta0), beta1_(beta1), t_end_(t_end) {
  if (!(beta1 > beta0)) fail("vp_linear: beta1 = {} must be greater than beta0 = {}", beta1, beta0);
  if (!(t_end > 0)) fail("vp_linear: t_end = {} must be positive", t_end);
}

VpLinearProcess VpLinearProcess::fitted_to(double sigma_min, double sigma_max, double eps_s) {
  // diff-sampler: β_d = 2(ln(σmin²+1)/ε − ln(σmax²+1))/(ε−1), β_min = ln(σmax²+1) − β_d/2.
  double lmin = std::log1p(sigma_min * sigma_min), lmax = std::log1p(sigma_max * sigma_max);
  double beta_d = 2.0 * (lmin / eps_s - lmax) / (eps_s - 1.0);
  double beta_min = lmax - 0.5 * beta_d;
  return VpLinearProcess(beta_min, beta_d + beta_min, 1.0);
}

std::string VpLinearProcess::describe() const {
  return fmt::format("vp_linear(beta0={:.17g},beta1={:.17g},t_end={:.17g})", beta0_, beta1_, t_end_);
}

double VpLinearProcess::log_alpha(double t) const { return -0.25 * t * t * (beta1_ - beta0_) - 0.5 * t * beta0_; }
double VpLinearProcess::sigma_hat(double t) const { return sigma_hat_from_log_alpha(log_alpha(t)); }

double VpLinearProcess::t_of_sigma_hat(double s) const {
  // Solve (β_d/2)t² + β0 t = L, L = log(1+σ̂²), in the cancellation-free form 2L/(β0 + sqrt(β0² + 2β_d L)).
  double L = std::log1p(s * s), bd = beta1_ - beta0_;
  return 2.0 * L / (beta0_ + std::sqrt(beta0_ * beta0_ + 2.0 * bd * L));
}

// ---- VP cosine ---------------------------------------------------------------------------------------
VpCosineProcess::VpCosineProcess(double s, double t_end)
    : s_(s), t_end_(t_end), log_alpha0_(std::log(std::cos(s / (1.0 + s) * M_PI / 2.0))) {}

std::string VpCosineProcess::describe() const { return fmt::format("vp_cosine(s={:.17g},t_end={:.17g})", s_, t_end_); }

double VpCosineProcess::log_alpha(double t) const {
  return std::log(std::cos((t + s_) / (1.0 + s_) * M_PI / 2.0)) - log_alpha0_;
}
double VpCosineProcess::sigma_hat(double t) const { return sigma_hat_from_log_alpha(log_alpha(t)); }
double VpCosineProcess::t_of_sigma_hat(double s) const {
  double la = log_alpha_from_sigma_hat(s);
  return std::acos(std::exp(la + log_alpha0_)) * 2.0 * (1.0 + s_) / M_PI - s_;
}

// ---- VP discrete -------------------------------------------------------------------------------------
std::vector<double> VpDiscreteProcess::ddpm_linear_betas(int n, double beta_start, double beta_end) {
  std::vector<double> b(n);
  for (int i = 0; i < n; ++i) b[i] = beta_start + (beta_end - beta_start) * i / double(n - 1);
  return b;
}

VpDiscreteProcess::VpDiscreteProcess(std::vector<double> betas) {
  if (betas.size() < 2) fail("vp_discrete: the beta table needs at least 2 entries, got {}", betas.size());
  const size_t n = betas.size();
  double acc = 0.0;
  Hasher h;
  for (size_t i = 0; i < n; ++i) {
    if (!(betas[i] > 0.0 && betas[i] < 1.0)) fail("vp_discrete: beta[{}] = {} is outside (0, 1)", i, betas[i]);
    acc += std::log1p(-betas[i]);
    ts_.push_back(double(i + 1) / double(n));
    log_alphas_.push_back(0.5 * acc);
    h.update(&betas[i], sizeof(double));
  }
  digest_ = h.hex().substr(0, 16);
}

std::string VpDiscreteProcess::describe() const {
  return fmt::format("vp_discrete(n={},betas={})", ts_.size(), digest_);
}

namespace {
// Piecewise-linear interpolation through (xs, ys) with xs increasing, extrapolating with the end segments.
double interp_extrapolate(const std::vector<double>& xs, const std::vector<double>& ys, double x) {
  size_t hi = std::upper_bound(xs.begin(), xs.end(), x) - xs.begin();
  hi = std::clamp<size_t>(hi, 1, xs.size() - 1);
  size_t lo = hi - 1;
  return ys[lo] + (ys[hi] - ys[lo]) * (x - xs[lo]) / (xs[hi] - xs[lo]);
}
}  // namespace

double VpDiscreteProcess::log_alpha(double t) const { return interp_extrapolate(ts_, log_alphas_, t); }
double VpDiscreteProcess::sigma_hat(double t) const { return sigma_hat_from_log_alpha(log_alpha(t)); }

double VpDiscreteProcess::t_of_sigma_hat(double s) const {
  // log α decreases with t: interpolate t over the reversed (increasing) table.
  std::vector<double> la(log_alphas_.rbegin(), log_alphas_.rend()), t(ts_.rbegin(), ts_.rend());
  return interp_extrapolate(la, t, log_alpha_from_sigma_hat(s));
}

double VpDiscreteProcess::model_time(double t) const {
  double n = double(ts_.size());
  return (t - 1.0 / n) * n;
}

// ---- registry ----------------------------------------------------------------------------------------
const std::vector<NoiseProcessKind>& noise_process_kinds() {
  static const std::vector<NoiseProcessKind> kinds = {
      {"vp_linear",
       "continuous VP, linear β(t) (DDPM++/ScoreSDE, DPM-Solver's 'linear')",
       {opt::number("beta_min", 0.1, 0, 1e3, "β(0)"), opt::number("beta_max", 20.0, 0, 1e3, "β(t_end)"),
        opt::number("t_end", 1.0, 0, 1e3, "the last time").exclusive_min()},
       [](const Options& o, const std::vector<double>&) -> std::shared_ptr<const NoiseProcess> {
         return std::make_shared<VpLinearProcess>(o.get_double("beta_min"), o.get_double("beta_max"),
                                                  o.get_double("t_end"));
       }},
      {"vp_cosine",
       "improved-DDPM cosine schedule",
       {opt::number("s", 0.008, 0, 1, "the offset of the cosine (Nichol & Dhariwal's 0.008)")},
       [](const Options& o, const std::vector<double>&) -> std::shared_ptr<const NoiseProcess> {
         return std::make_shared<VpCosineProcess>(o.get_double("s"));
       }},
      {"vp_discrete",
       "discrete-time VP from a β table; the network's time input is the step index (DDPM, LDM)",
       {opt::integer("num_steps", 1000, 2, 100000, "training steps of the linear β table (DDPM's 1000)"),
        opt::number("beta_start", 1e-4, 0, 1, "first β of the linear table (DDPM's 1e-4; LDM's 0.00085)")
            .exclusive_min(),
        opt::number("beta_end", 0.02, 0, 1, "last β of the linear table (DDPM's 0.02; LDM's 0.012)").exclusive_min(),
        opt::number_list("betas", "", "the full β table instead of the linear one")},
       [](const Options& o, const std::vector<double>& betas) -> std::shared_ptr<const NoiseProcess> {
         return std::make_shared<VpDiscreteProcess>(
             !betas.empty() ? betas
                            : VpDiscreteProcess::ddpm_linear_betas(
                                  int(o.get_int("num_steps")), o.get_double("beta_start"), o.get_double("beta_end")));
       }},
  };
  return kinds;
}

}  // namespace dsx
