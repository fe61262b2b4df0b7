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

// ℓ_j(τ) on nodes ts (ts[0] = current time).
double lagrange(const std::vector<double>& ts, size_t j, double tau) {
  double p = 1.0;
  for (size_t k = 0; k < ts.size(); ++k)
    if (k != j) p *= (tau - ts[k]) / (ts[j] - ts[k]);
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

}  // namespace

std::vector<std::vector<double>> deis_tab_coefficients(const std::vector<double>& sigmas, int max_order,
                                                       DeisQuadrature quadrature, double fit_sigma_min,
                                                       double fit_sigma_max) {
  if (max_order < 1 || max_order > 4) fail("deis: max_order = {} is outside [1, 4]", max_order);
  const VpLinearProcess clock = VpLinearProcess::fitted_to(fit_sigma_min, fit_sigma_max, 1e-3);
  const double b0 = clock.beta0(), bd = clock.beta1() - clock.beta0();
  std::vector<double> ts;
  for (double s : sigmas) ts.push_back(clock.t_of_sigma_hat(s));
  // dσ̂/dτ = −½ (d log ᾱ/dτ)/sqrt(ᾱ(1−ᾱ)) with log ᾱ = −½β_d τ² − β_0 τ (the official autograd integrand).
  auto integrand = [&](double tau) {
    double log_abar = -0.5 * bd * tau * tau - b0 * tau;
    double abar = std::exp(log_abar), one_minus = -std::expm1(log_abar);
    return 0.5 * (bd * tau + b0) / std::sqrt(abar * one_minus);
  };
  static const GaussLegendre gl(10);
  constexpr int kPanels = 8, kRiemann = 10000;

  std::vector<std::vector<double>> coeffs;
  for (size_t i = 0; i + 1 < sigmas.size(); ++i) {
    const int points = std::min<int>(int(i) + 1, max_order);
    if (points == 1) {
      coeffs.emplace_back();
      continue;
    }
    std::vector<double> nodes;
    for (int k = 0; k < points; ++k) nodes.push_back(ts[i - k]);
    std::vector<double> c(points, 0.0);
    if (quadrature == DeisQuadrature::Riemann) {
      const double a = ts[i], b = ts[i + 1], step = (b - a) / (kRiemann - 1), dtau = (b - a) / kRiemann;
      for (int k = 0; k < kRiemann; ++k) {
        const double tau = a + k * step, g = integrand(tau);
        for (int j = 0; j < points; ++j) c[j] += g * lagrange(nodes, j, tau);
      }
      for (auto& v : c) v *= dtau;
    } else {
      // ∫ ℓ_j(t(σ)) dσ with σ = e^u: smooth in u even where dσ̂/dτ is steep near σ_min.
      const double ua = std::log(sigmas[i]), ub = std::log(sigmas[i + 1]), pw = (ub - ua) / kPanels;
      for (int p = 0; p < kPanels; ++p) {
        const double mid = ua + (p + 0.5) * pw;
        for (size_t q = 0; q < gl.x.size(); ++q) {
          const double u = mid + 0.5 * pw * gl.x[q], sig = std::exp(u), wq = 0.5 * pw * gl.w[q] * sig;
          const double tau = clock.t_of_sigma_hat(sig);
          for (int j = 0; j < points; ++j) c[j] += wq * lagrange(nodes, j, tau);
        }
      }
    }
    coeffs.push_back(std::move(c));
  }
  return coeffs;
}

namespace {

class DeisSolver : public Solver {
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
