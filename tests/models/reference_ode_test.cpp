// The reference ODE integrators (Boost.Odeint, models/reference_ode.h) and the fused mixture denoiser
// (models/mixture_kernel.h), both against an independent plain-C++ oracle: the mixture's denoiser written
// out from its formula in doubles, integrated with 10⁵ classical RK4 steps in u = log σ.
#include <boost/test/unit_test.hpp>

#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "core/noise.h"
#include "models/gaussian_mixture.h"
#include "models/reference_ode.h"
#include "support/check.h"

namespace dsx {
namespace {

// D(x, σ) of an isotropic mixture from its formula (docs/solvers.md §6.2), no ATen.
struct ScalarMixture {
  std::vector<std::vector<double>> mu;
  std::vector<double> s2, w;

  explicit ScalarMixture(const GaussianMixture& g) {
    at::Tensor m = g.means().to(at::kDouble).contiguous(), s = g.stds().to(at::kDouble),
               p = g.weights().to(at::kDouble);
    for (int64_t k = 0; k < g.num_components(); ++k) {
      mu.emplace_back(m[k].data_ptr<double>(), m[k].data_ptr<double>() + g.dim());
      s2.push_back(std::pow(s[k].item<double>(), 2));
      w.push_back(p[k].item<double>());
    }
  }
  std::vector<double> denoise(const std::vector<double>& x, double sigma) const {
    const size_t k = mu.size(), d = x.size();
    std::vector<double> logit(k);
    for (size_t c = 0; c < k; ++c) {
      double r2 = 0;
      for (size_t j = 0; j < d; ++j) r2 += (x[j] - mu[c][j]) * (x[j] - mu[c][j]);
      const double v = s2[c] + sigma * sigma;
      logit[c] = std::log(w[c]) - 0.5 * double(d) * std::log(2 * M_PI * v) - r2 / (2 * v);
    }
    const double top = *std::max_element(logit.begin(), logit.end());
    double z = 0;
    for (double& l : logit) z += (l = std::exp(l - top));
    std::vector<double> out(d, 0.0);
    for (size_t c = 0; c < k; ++c) {
      const double v = s2[c] + sigma * sigma, r = logit[c] / z;
      for (size_t j = 0; j < d; ++j) out[j] += r * (s2[c] / v * x[j] + sigma * sigma / v * mu[c][j]);
    }
    return out;
  }
  // Classical RK4 on dx/du = x − D(x, e^u) with n equal steps in u.
  std::vector<double> rk4(std::vector<double> x, double sigma_from, double sigma_to, int n) const {
    const double u0 = std::log(sigma_from), h = (std::log(sigma_to) - u0) / n;
    auto f = [&](const std::vector<double>& y, double u) {
      std::vector<double> d = denoise(y, std::exp(u));
      for (size_t j = 0; j < y.size(); ++j) d[j] = y[j] - d[j];
      return d;
    };
    auto axpy = [](std::vector<double> y, const std::vector<double>& k, double a) {
      for (size_t j = 0; j < y.size(); ++j) y[j] += a * k[j];
      return y;
    };
    for (int i = 0; i < n; ++i) {
      const double u = u0 + i * h;
      const auto k1 = f(x, u), k2 = f(axpy(x, k1, h / 2), u + h / 2), k3 = f(axpy(x, k2, h / 2), u + h / 2),
                 k4 = f(axpy(x, k3, h), u + h);
      for (size_t j = 0; j < x.size(); ++j) x[j] += h / 6 * (k1[j] + 2 * k2[j] + 2 * k3[j] + k4[j]);
    }
    return x;
  }
};

at::Tensor rows_of(const std::vector<std::vector<double>>& rows) {
  at::Tensor t = at::empty({int64_t(rows.size()), int64_t(rows[0].size())}, at::kDouble);
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t j = 0; j < rows[i].size(); ++j) t[int64_t(i)][int64_t(j)] = rows[i][j];
  return t;
}

// A model that is the mixture except for NaN in σ ∈ (1.2, 1.8).
class NanBand : public DenoiserDecorator {
 public:
  using DenoiserDecorator::DenoiserDecorator;
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out = nullptr) const override {
    const double s = sigma[0].item<double>();
    at::Tensor d = inner_.denoise(x, sigma, out);
    return s > 1.2 && s < 1.8 ? d * NAN : d;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(reference_ode)

BOOST_AUTO_TEST_CASE(fused_mixture_denoiser_matches_formula_and_oracle) {
  auto gmm = GaussianMixture::random(7, {3, 5, 4}, 11, 1.0, 0.05, 0.6);
  const ScalarMixture oracle(*gmm);
  at::Tensor x = 2.0 * seeded_noise({0, 1, 2, 3, 4}, {3, 5, 4}, at::TensorOptions().dtype(at::kDouble));
  at::Tensor sig = at::tensor({0.002, 0.07, 0.9, 5.0, 80.0}, at::kDouble);
  Features f_fused, f_formula;
  at::Tensor fused = gmm->denoise(x, sig, &f_fused);
  at::Tensor formula;
  {
    at::AutoGradMode grad(true);  // inputs that need a graph take the ATen formula
    formula = gmm->denoise(x.clone().requires_grad_(true), sig, &f_formula).detach();
  }
  test::check_close(fused, formula, 1e-13, 1e-13, "fused kernel vs ATen formula");
  test::check_close(f_fused.map, f_formula.map, 1e-13, 1e-13, "responsibilities");
  at::Tensor xf = x.reshape({5, -1});
  for (int64_t i = 0; i < 5; ++i) {
    std::vector<double> row(xf[i].data_ptr<double>(), xf[i].data_ptr<double>() + xf.size(1));
    test::check_close(fused.reshape({5, -1})[i], oracle.denoise(row, sig[i].item<double>()), 1e-13, 1e-13,
                      "fused kernel vs scalar oracle, row " + std::to_string(i));
  }
  // float32: the same math to float rounding, and a row's bits do not depend on the rest of the batch.
  gmm->to(at::kFloat, at::kCPU);
  at::Tensor x32 = x.to(at::kFloat), s32 = sig.to(at::kFloat);
  at::Tensor d32 = gmm->denoise(x32, s32);
  test::check_close(d32, fused, 1e-5, 1e-5, "float32 vs float64");
  for (int64_t i = 0; i < 5; ++i)
    BOOST_TEST(at::equal(gmm->denoise(x32.narrow(0, i, 1), s32.narrow(0, i, 1))[0], d32[i]));
}

BOOST_AUTO_TEST_CASE(integrators_match_a_hundred_thousand_step_rk4) {
  auto gmm = GaussianMixture::random(4, {6}, 3, 1.0, 0.1, 0.4);
  const ScalarMixture oracle(*gmm);
  at::Tensor x_T = 80.0 * seeded_noise({0, 1, 2}, {6}, at::TensorOptions().dtype(at::kDouble));
  std::vector<std::vector<double>> fine, half;
  for (int64_t i = 0; i < 3; ++i) {
    std::vector<double> row(x_T[i].data_ptr<double>(), x_T[i].data_ptr<double>() + 6);
    fine.push_back(oracle.rk4(row, 80.0, 0.002, 100000));
    half.push_back(oracle.rk4(row, 80.0, 0.002, 50000));
  }
  const at::Tensor truth = rows_of(fine);
  // RK4's error falls 16× per halving: the 5·10⁴/10⁵ difference bounds the oracle's own error.
  const double oracle_err = (rows_of(half) - truth).abs().max().item<double>() / 15;
  BOOST_TEST_MESSAGE("oracle error bound " << oracle_err);
  BOOST_TEST(oracle_err < 1e-13);
  std::map<std::string, int64_t> calls;
  for (const std::string& name : reference_integrators()) {
    for (double tol : {1e-8, 1e-10, 1e-12}) {
      OdeSolveOptions o;
      o.rtol = o.atol = tol;
      o.integrator = name;
      const OdeSolution s = solve_reference_ode(*gmm, x_T, 80.0, 0.002, o);
      const double err = (s.x - truth).abs().max().item<double>();
      BOOST_TEST_MESSAGE(name << " tol " << tol << ": max error " << err << ", " << s.evaluations << " calls, "
                              << s.accepted_steps << " steps (" << s.rejected_steps << " rejected)");
      BOOST_TEST(err < 100 * tol + 1e-13, name << " at tol " << tol << ": error " << err);
      if (tol == 1e-12) calls[name] = s.evaluations;
    }
  }
  // Why Fehlberg 7(8) is the default: at 1e-12 it needs well under half of Dormand–Prince's calls.
  BOOST_TEST(calls["rkf78"] * 2 < calls["dopri5"]);
}

BOOST_AUTO_TEST_CASE(per_row_solves_are_each_rows_own_at_any_thread_count) {
  auto gmm = GaussianMixture::random(5, {2, 3, 4}, 7, 1.0, 0.05, 0.5);
  at::Tensor x_T = 80.0 * seeded_noise({0, 1, 2, 3, 4, 5, 6}, {2, 3, 4}, at::TensorOptions().dtype(at::kDouble));
  OdeSolveOptions o;
  o.rtol = o.atol = 1e-14;  // the mixture's own reference tolerance
  o.per_row = true;
  o.row_denoiser = gmm->row_denoiser();
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  const OdeSolution both = solve_reference_ode(*gmm, x_T, 80.0, 0.002, o);
  at::set_num_threads(1);
  const OdeSolution one = solve_reference_ode(*gmm, x_T, 80.0, 0.002, o);
  OdeSolveOptions tensors = o;  // the same solve through denoise() instead of the raw kernel
  tensors.row_denoiser = {};
  const OdeSolution through_denoise = solve_reference_ode(*gmm, x_T, 80.0, 0.002, tensors);
  at::set_num_threads(threads);
  BOOST_TEST(at::equal(both.x, one.x));
  BOOST_TEST(both.evaluations == one.evaluations);
  test::check_close(through_denoise.x, one.x, 1e-13, 1e-13, "raw row kernel vs denoise()");
  for (int64_t i = 0; i < 7; ++i)  // a row's solution does not depend on the others
    BOOST_TEST(at::equal(solve_reference_ode(*gmm, x_T.narrow(0, i, 1), 80.0, 0.002, o).x[0], one.x[i]));
  // The mixture's own reference is this solve, and a progress callback that throws stops it (dsx sample's probe).
  BOOST_TEST(at::equal(gmm->ode_solution(x_T, 80.0, 0.002), one.x));
  struct Stop {};
  int64_t calls = 0;
  at::set_num_threads(2);
  BOOST_CHECK_THROW(gmm->ode_solution(x_T, 80.0, 0.002,
                                      [&](double) {
                                        ++calls;
                                        throw Stop{};
                                      }),
                    Stop);
  at::set_num_threads(threads);
  BOOST_TEST(calls <= 2);  // one per thread at most: no thread went on to the remaining rows' reports
}

BOOST_AUTO_TEST_CASE(closed_form_gaussian_and_every_integrator_agree) {
  // K = 1: ode_solution uses the closed form; each generic integrator must agree with it.
  GaussianMixture g(at::tensor({0.3}, at::kDouble).reshape({1, 1}), at::tensor({0.5}, at::kDouble),
                    at::tensor({1.0}, at::kDouble));
  at::Tensor x_T = at::tensor({80.0, -20.0, 3.0}, at::kDouble).reshape({3, 1});
  at::Tensor exact = g.ode_solution(x_T, 80.0, 0.002);
  BOOST_TEST(exact[0].item<double>() == 0.798119256187345, boost::test_tools::tolerance(1e-13));  // §6.1 check value
  for (const std::string& name : reference_integrators()) {
    OdeSolveOptions o;
    o.integrator = name;
    test::check_close(solve_reference_ode(g, x_T, 80.0, 0.002, o).x, exact, 0, 1e-11, name + " vs closed form");
    test::check_close(solve_reference_ode(g, exact, 0.002, 80.0, o).x, x_T, 1e-9, 0, name + " back up to σ = 80");
  }
}

BOOST_AUTO_TEST_CASE(errors_name_the_sigma_and_the_choices) {
  auto gmm = GaussianMixture::random(3, {4}, 5);
  const NanBand bad(*gmm);
  at::Tensor x_T = 80.0 * seeded_noise({0, 1}, {4}, at::TensorOptions().dtype(at::kDouble));
  try {
    solve_reference_ode(bad, x_T, 80.0, 0.002);
    BOOST_FAIL("NaN was not reported");
  } catch (const Error& e) {
    const std::string m = e.what();
    const double s = std::stod(m.substr(m.find("σ = ") + std::string("σ = ").size()));
    BOOST_TEST(m.find("NaN") != std::string::npos);
    BOOST_TEST((s > 1.2 && s < 1.8), m);
  }
  OdeSolveOptions o;
  o.integrator = "rk45";
  BOOST_CHECK_EXCEPTION(solve_reference_ode(*gmm, x_T, 80.0, 0.002, o), Error, [](const Error& e) {
    return std::string(e.what()).find("rkf78, bulirsch_stoer, dopri5") != std::string::npos;
  });
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
