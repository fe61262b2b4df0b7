#include "support/testbeds.h"

#include "diffusion/schedule.h"

#include <cmath>

#include "amed/solver_catalog.h"
#include "models/denoiser.h"
#include "models/testbeds.h"
#include "solvers/solver.h"

namespace dsx::test {

Gauss3 gauss3() {
  Gauss3 g;
  g.model = std::make_unique<DiagonalGaussian>(at::tensor({0.3, -0.5, 1.0}, at::kDouble),
                                               at::tensor({0.5, 1.0, 0.1}, at::kDouble));
  g.x_T = at::tensor({80.0, -40.0, 20.0}, at::kDouble).reshape({1, 3});
  return g;
}

Toy192 toy192() {
  Toy192 t;
  t.model = testbeds::amed_toy();
  at::Tensor z = at::empty({4, 192}, at::kDouble);
  for (int b = 0; b < 4; ++b)
    for (int k = 0; k < 192; ++k) z[b][k] = std::sqrt(2.0) * std::sin(2.1 * k + 1.7 * b + 0.3);
  t.x_T = (80.0 * z).reshape({4, 3, 8, 8});
  return t;
}

std::vector<double> time_uniform_float32(int n, double rho, double sigma_min, double sigma_max) {
  // Mirrors the float32 arithmetic of diff-sampler's get_schedule('time_uniform').
  const float eps_s = 1e-3f, smin = float(sigma_min), smax = float(sigma_max), r = float(rho);
  const float beta_d = 2.0f * (std::log(smin * smin + 1.0f) / eps_s - std::log(smax * smax + 1.0f)) / (eps_s - 1.0f);
  const float beta_min = std::log(smax * smax + 1.0f) - 0.5f * beta_d;
  std::vector<double> out;
  for (int i = 0; i < n; ++i) {
    float frac = float(i) / float(n - 1);
    float tau = std::pow(1.0f + frac * (std::pow(eps_s, 1.0f / r) - 1.0f), r);
    out.push_back(std::sqrt(std::exp(beta_d * tau * tau / 2.0f + beta_min * tau) - 1.0f));
  }
  return out;
}

std::vector<double> f32(std::vector<double> sigmas) {
  for (auto& s : sigmas) s = double(float(s));
  return sigmas;
}

std::unique_ptr<GaussianMixture> gmm_1d() {
  return std::make_unique<GaussianMixture>(at::tensor({-1.0, 2.0}, at::kDouble).reshape({2, 1}),
                                           at::tensor({0.5, 0.3}, at::kDouble), at::tensor({0.3, 0.7}, at::kDouble));
}

RunResult run_solver(const std::string& name, const std::map<std::string, std::string>& options, const Denoiser& model,
                     const at::Tensor& x_T, const std::vector<double>& sigmas) {
  std::map<std::string, RawOption> raw;
  for (const auto& [k, v] : options) raw[k] = {v, "test"};
  auto solver = make_solver(name, raw);
  check_grid(*solver, sigmas, name);
  CountingDenoiser counted(model);
  RunResult r;
  r.x = solver->sample(counted, x_T, sigmas);
  r.nfe = counted.nfe();
  r.expected_nfe = solver->expected_nfe(int(sigmas.size()));
  return r;
}

std::vector<double> family_grid(const std::string& kind, int points, double rho) {
  ScheduleSpec s;
  s.kind = kind;
  s.num_steps = points;
  s.rho = rho;
  return make_schedule(s);
}

}  // namespace dsx::test
