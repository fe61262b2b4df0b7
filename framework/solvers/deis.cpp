// DEIS tAB (Zhang & Chen 2023) as ported to EDM form by diff-sampler (deis_sampler, deis_mode='tab';
// docs/amed.md §4, docs/solvers.md §3.7): an Adams–Bashforth method whose ε-history is interpolated by a
// Lagrange polynomial in the time t of a VP clock and integrated exactly against dσ̂/dt, so
//   x̂_{i+1} = x̂_i + Σ_j C_ij ε_{i−j},   C_ij = ∫_{t_i}^{t_{i+1}} (dσ̂/dτ) ℓ_j(τ) dτ.
// `mode: rhoab` is not offered: diff-sampler's ρAB coefficient lists disagree with its own order rule
// (ValueError for max_order ≤ 3, stale coefficients for 4; docs/amed.md §10.5).
#include "solvers/deis.h"
#include "solvers/adams.h"

#include <cmath>
#include <deque>
#include <memory>
#include <mutex>

#include "core/error.h"
#include "diffusion/noise_process.h"
#include "solvers/families.h"
#include "solvers/lincomb.h"

namespace dsx {
namespace {

// t(σ̂) of a VP-linear clock per sample, in VpLinearProcess::t_of_sigma_hat's cancellation-free form.
at::Tensor clock_time(const VpLinearProcess& clock, const at::Tensor& sigma) {
  const double b0 = clock.beta0(), bd = clock.beta1() - clock.beta0();
  const at::Tensor L = at::log1p(sigma * sigma);
  return 2.0 * L / (b0 + at::sqrt(b0 * b0 + 2.0 * bd * L));
}

// dσ̂/dτ = −½ (d log ᾱ/dτ)/sqrt(ᾱ(1−ᾱ)) with log ᾱ = −½β_d τ² − β_0 τ (the official autograd integrand).
at::Tensor integrand(const VpLinearProcess& clock, const at::Tensor& tau) {
  const double b0 = clock.beta0(), bd = clock.beta1() - clock.beta0();
  const at::Tensor log_abar = -0.5 * bd * tau * tau - b0 * tau;
  return 0.5 * (bd * tau + b0) / at::sqrt(at::exp(log_abar) * -at::expm1(log_abar));
}

// ℓ_j(τ) on the nodes ts (each [B], ts[0] = the current time) at τ [B, K].
at::Tensor lagrange(const std::vector<at::Tensor>& ts, size_t j, const at::Tensor& tau) {
  at::Tensor p = at::ones_like(tau);
  for (size_t k = 0; k < ts.size(); ++k)
    if (k != j) p = p * (tau - ts[k].unsqueeze(1)) / (ts[j] - ts[k]).unsqueeze(1);
  return p;
}

// Gauss–Legendre nodes/weights on [−1, 1] (Newton on P_n from the Chebyshev guesses).
struct GaussLegendre {
  std::vector<double> x, w;
  explicit GaussLegendre(int n) : x(n), w(n) {
    for (int i = 0; i < n; ++i) {
      double z = std::cos(M_PI * (i + 0.75) / (n + 0.5)), dp = 1.0;
      for (int it = 0; it < 100; ++it) {
        double p0 = 1.0, p1 = z;
        for (int k = 2; k <= n; ++k) {
          double p2 = ((2.0 * k - 1.0) * z * p1 - (k - 1.0) * p0) / k;
          p0 = p1, p1 = p2;
        }
        dp = n * (z * p1 - p0) / (z * z - 1.0);
        double dz = p1 / dp;
        z -= dz;
        if (std::abs(dz) < 1e-16) break;
      }
      x[i] = z;
      w[i] = 2.0 / ((1.0 - z * z) * dp * dp);
    }
  }
};

constexpr int kPanels = 8, kRiemann = 10000;

}  // namespace

std::vector<at::Tensor> deis_weights(const std::vector<at::Tensor>& sigma, const at::Tensor& to, int order,
                                     DeisQuadrature quadrature, double fit_sigma_min, double fit_sigma_max) {
  if (order < 1 || order > 4 || int(sigma.size()) < order)
    fail("deis: a step of order {} with {} points", order, sigma.size());
  if (order == 1) return {to - sigma[0]};  // one point: Euler, x + (t − s)·ε
  const VpLinearProcess clock = VpLinearProcess::fitted_to(fit_sigma_min, fit_sigma_max, 1e-3);
  std::vector<at::Tensor> ts;
  for (int k = 0; k < order; ++k) ts.push_back(clock_time(clock, sigma[size_t(k)]));
  const auto opt = to.options();
  at::Tensor tau, weight;  // quadrature points [B, K] in the clock's time and their weights
  if (quadrature == DeisQuadrature::Riemann) {
    // diff-sampler's sum: kRiemann linspace points including both ends, times Δt/kRiemann.
    const at::Tensor a = ts[0], b = clock_time(clock, to);
    tau = a.unsqueeze(1) + at::arange(kRiemann, opt).unsqueeze(0) * ((b - a) / (kRiemann - 1)).unsqueeze(1);
    weight = integrand(clock, tau) * ((b - a) / kRiemann).unsqueeze(1);
  } else {
    // ∫ ℓ_j(t(σ)) dσ with σ = e^u: smooth in u even where dσ̂/dτ is steep near σ_min.
    static const GaussLegendre gl(10);
    const at::Tensor ua = at::log(sigma[0]), pw = (at::log(to) - ua) / kPanels;
    std::vector<double> offset, w;  // per panel and node: (p + ½ + ½x_q), ½w_q
    for (int p = 0; p < kPanels; ++p)
      for (size_t q = 0; q < gl.x.size(); ++q) offset.push_back(p + 0.5 + 0.5 * gl.x[q]), w.push_back(0.5 * gl.w[q]);
    const at::Tensor u = ua.unsqueeze(1) + pw.unsqueeze(1) * at::tensor(offset, opt).unsqueeze(0);
    const at::Tensor sig = at::exp(u);
    tau = clock_time(clock, sig);
    weight = pw.unsqueeze(1) * at::tensor(w, opt).unsqueeze(0) * sig;
  }
  std::vector<at::Tensor> c;
  for (int j = 0; j < order; ++j) c.push_back((weight * lagrange(ts, size_t(j), tau)).sum(1));
  return c;
}

std::vector<std::vector<double>> deis_tab_coefficients(const std::vector<double>& sigmas, int max_order,
                                                       DeisQuadrature quadrature, double fit_sigma_min,
                                                       double fit_sigma_max) {
  if (max_order < 1 || max_order > 4) fail("deis: max_order = {} is outside [1, 4]", max_order);
  auto one = [](double v) { return at::full({1}, v, at::kDouble); };
  std::vector<std::vector<double>> coeffs;
  for (size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const int points = std::min<int>(int(i) + 1, max_order);
    coeffs.emplace_back();
    if (points == 1) continue;  // the caller's Euler step
    std::vector<at::Tensor> sigma;
    for (int k = 0; k < points; ++k) sigma.push_back(one(sigmas[i - size_t(k)]));
    for (const at::Tensor& c :
         deis_weights(sigma, one(sigmas[i + 1]), points, quadrature, fit_sigma_min, fit_sigma_max))
      coeffs.back().push_back(c.item<double>());
  }
  return coeffs;
}

namespace {

class DeisSolver : public Solver, public MultistepRule {
 public:
  explicit DeisSolver(const Options& o)
      : common_(CommonOptions::from(o)),
        max_order_(int(o.get_int("max_order"))),
        quadrature_(o.get_string("quadrature") == "exact" ? DeisQuadrature::GaussLegendre : DeisQuadrature::Riemann),
        fit_to_grid_(o.get_string("vp_fit") == "grid") {}

  at::Tensor sample(const Denoiser& model, at::Tensor x, const std::vector<double>& sigmas,
                    const SampleHooks& hooks) const override {
    const std::shared_ptr<const Coefficients> coeffs_ptr = coefficients(sigmas);
    const Coefficients& coeffs = *coeffs_ptr;
    Evaluator ev(model, common_);
    // ε of the earlier steps, newest first; the current ε_i = (x − D)/σ_i is folded into the coefficients
    // and written (over D) in the same pass as x_{i+1} when later steps need it.
    std::deque<at::Tensor> eps;
    const size_t steps = sigmas.size() - 1;
    for (size_t i = 0; i < steps; ++i) {
      const double s = sigmas[i], t = sigmas[i + 1];
      at::Tensor den = ev.data(x, s);
      const std::vector<double>& c = coeffs[i];
      const std::vector<double> euler{t - s};  // one point: Euler step x + (t − s)·ε_i
      x = adams_step(x, den, s, c.empty() ? euler : c, eps, size_t(max_order_ - 1), max_order_ > 1 && i + 1 < steps);
      if (hooks.on_step) hooks.on_step({int(i), s, t, x});
    }
    return x;
  }

  int64_t expected_nfe(int n) const override { return (n - 1) - (common_.afs ? 1 : 0); }

  // The step-level form needs a fixed clock: with vp_fit: grid the clock follows the whole grid's ends.
  const MultistepRule* multistep_rule() const override { return fit_to_grid_ ? nullptr : this; }
  Prediction prediction() const override { return Prediction::Noise; }
  int kept() const override { return max_order_ - 1; }
  int order(int k, int points) const override { return multistep_order(k, points, max_order_, false); }
  StepWeights<at::Tensor> weights(const std::vector<at::Tensor>& sigma, const at::Tensor& to,
                                  const StepAt& pos) const override {
    return {at::ones_like(to), deis_weights(sigma, to, pos.order, quadrature_)};
  }

 private:
  using Coefficients = std::vector<std::vector<double>>;

  // The tAB coefficients of a grid (the faithful 10,000-point sums cost ~1 ms on 10 steps): computed once
  // and kept for the last grid, since a sampling run calls sample() once per batch on the same grid.
  std::shared_ptr<const Coefficients> coefficients(const std::vector<double>& sigmas) const {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (!cached_ || cached_grid_ != sigmas) {
      cached_ = std::make_shared<const Coefficients>(
          fit_to_grid_ ? deis_tab_coefficients(sigmas, max_order_, quadrature_, sigmas.back(), sigmas.front())
                       : deis_tab_coefficients(sigmas, max_order_, quadrature_));
      cached_grid_ = sigmas;
    }
    return cached_;
  }

  CommonOptions common_;
  int max_order_;
  DeisQuadrature quadrature_;
  bool fit_to_grid_;
  mutable std::mutex cache_mutex_;
  mutable std::vector<double> cached_grid_;
  mutable std::shared_ptr<const Coefficients> cached_;
};

}  // namespace

std::vector<SolverEntry> deis_family() {
  std::vector<OptionSpec> opts = {
      opt::integer("max_order", 3, 1, 4,
                   "number of ε points in the Adams–Bashforth interpolation (polynomial degree + 1)"),
      opt::choice("mode", {"tab"}, "tab",
                  "tAB (Lagrange in VP time); diff-sampler's rhoab is broken officially and not offered"),
      opt::choice("quadrature", {"faithful", "exact"}, "faithful",
                  "faithful: diff-sampler's 10,000-point sum (≤ 5e-5 relative off on coarse grids); exact: "
                  "Gauss–Legendre"),
      opt::choice("vp_fit", {"fixed", "grid"}, "fixed",
                  "VP clock: fixed = diff-sampler's fit to σ ∈ [0.002, 80]; grid = fit to the grid's own end points"),
  };
  return {{"deis", "DEIS tAB: Adams–Bashforth on ε with Lagrange interpolation in VP time",
           "Zhang & Chen 2023 (DEIS); diff-sampler deis_sampler (tab)", "N−1 (−1 with afs)", "max_order",
           std::move(opts), [](const Options& o) { return std::make_unique<DeisSolver>(o); }}};
}

}  // namespace dsx
