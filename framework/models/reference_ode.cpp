#include "models/reference_ode.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace dsx {
namespace {

// Dormand–Prince 5(4) tableau (FSAL: the 7th stage is the derivative at the new point).
constexpr double kC[7] = {0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1};
constexpr double kA[7][6] = {
    {},
    {1.0 / 5},
    {3.0 / 40, 9.0 / 40},
    {44.0 / 45, -56.0 / 15, 32.0 / 9},
    {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729},
    {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656},
    {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84},
};
// b(5th order) − b*(4th order)
constexpr double kE[7] = {71.0 / 57600, 0, -71.0 / 16695, 71.0 / 1920, -17253.0 / 339200, 22.0 / 525, -1.0 / 40};

}  // namespace

OdeSolution solve_reference_ode(const Denoiser& model, const at::Tensor& x0, double sigma_from, double sigma_to,
                                double rtol, double atol, const OdeProgress& progress) {
  if (!(sigma_from > 0 && sigma_to > 0)) fail("reference ODE: sigmas must be positive");
  OdeSolution out;
  at::Tensor x = x0.clone();
  if (sigma_from == sigma_to) return out.x = x, out;
  const double u_end = std::log(sigma_to);
  double u = std::log(sigma_from);
  const double dir = u_end < u ? -1.0 : 1.0;
  auto f = [&](const at::Tensor& xs, double us) { return xs - model.denoise(xs, sigma_like(xs, std::exp(us))); };

  double h = dir * std::min(0.01, std::abs(u_end - u));
  at::Tensor k[7];
  k[0] = f(x, u);
  while (dir * (u_end - u) > 0) {
    if (dir * (u + h - u_end) > 0) h = u_end - u;
    for (int s = 1; s < 7; ++s) {
      at::Tensor xs = x.clone();
      for (int j = 0; j < s; ++j)
        if (kA[s][j] != 0) xs.add_(k[j], h * kA[s][j]);
      k[s] = f(xs, s == 6 ? u + h : u + kC[s] * h);
      if (s == 6) {
        // xs of the last stage is the 5th-order solution (its row equals b).
        at::Tensor err = at::zeros_like(x);
        for (int j = 0; j < 7; ++j)
          if (kE[j] != 0) err.add_(k[j], h * kE[j]);
        at::Tensor scale = atol + rtol * at::maximum(x.abs(), xs.abs());
        double e = (err.abs() / scale).max().item<double>();
        if (!std::isfinite(e))
          fail("reference ODE: the model returned NaN/Inf in the step from σ = {:.6g} to σ = {:.6g}", std::exp(u),
               std::exp(u + h));
        if (e <= 1.0) {
          x = xs;
          u += h;
          k[0] = k[6];
          ++out.accepted_steps;
          if (progress) progress(1.0 - (u_end - u) / (u_end - std::log(sigma_from)));
        } else {
          ++out.rejected_steps;
        }
        double factor = e == 0 ? 5.0 : std::clamp(0.9 * std::pow(e, -0.2), 0.2, 5.0);
        h *= factor;
        if (std::abs(h) < 1e-14) fail("reference ODE: step size underflow at sigma = {}", std::exp(u));
      }
    }
  }
  out.x = x;
  return out;
}

at::Tensor reference_solution(const Denoiser& model, const at::Tensor& x, double sigma_from, double sigma_to,
                              double rtol, const OdeProgress& progress) {
  if (const ExactOde* exact = model.exact()) return exact->ode_solution(x, sigma_from, sigma_to, progress);
  at::NoGradGuard no_grad;
  return solve_reference_ode(model, x.to(model.info().dtype), sigma_from, sigma_to, rtol, rtol, progress)
      .x.to(x.options());
}

std::string reference_method(const Denoiser& model, double rtol) {
  return model.exact() ? "exact" : fmt::format("dopri5/{:g}", rtol);
}

}  // namespace dsx
