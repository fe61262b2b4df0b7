// Gaussian-mixture denoiser, exact sampling and ODE references (docs/solvers.md §6.1–6.2).
#include <boost/test/unit_test.hpp>

#include "core/error.h"
#include "core/noise.h"
#include "diffusion/schedule.h"
#include "models/gaussian_mixture.h"
#include "models/reference_ode.h"
#include "support/check.h"
#include "support/testbeds.h"

namespace dsx {

BOOST_AUTO_TEST_SUITE(gaussian_mixture)

BOOST_AUTO_TEST_CASE(one_dimensional_denoiser_table) {
  auto gmm = test::gmm_1d();
  const std::vector<double> xs = {-3, 0, 0.5, 5};
  const std::map<double, std::vector<double>> table = {
      {0.01, {-2.999200319872051, -0.000399840046761, 0.499403225103472, 4.996670366259775}},
      {1.0, {-1.399613321447535, 0.182980237114878, 1.068449272229070, 2.247678064941113}},
      {80.0, {1.098901299464646, 1.099852247384029, 1.100010683814673, 1.101435905550380}}};
  at::Tensor x = at::tensor(xs, at::kDouble).reshape({4, 1});
  for (const auto& [sigma, want] : table)
    test::check_close(gmm->denoise(x, sigma_like(x, sigma)), want, 1e-12, 1e-14, "D(x, " + std::to_string(sigma) + ")");
}

BOOST_AUTO_TEST_CASE(one_dimensional_reference_ode) {
  auto gmm = test::gmm_1d();
  at::Tensor z = at::tensor({-1.5, -0.3, 0.2, 1.1}, at::kDouble).reshape({4, 1});
  at::Tensor x = gmm->ode_solution(80.0 * z, 80.0, 0.002);
  test::check_close(x, {-1.3913264840153, 1.6317461960381, 1.9171668392350, 2.2544534700042}, 0, 2e-11,
                    "DOP853 reference of docs/solvers.md §6.2");
}

BOOST_AUTO_TEST_CASE(reference_matches_ten_thousand_step_heun) {
  auto gmm = GaussianMixture::random(4, {6}, 3, 1.0, 0.1, 0.4);
  at::Tensor x_T = 80.0 * seeded_noise({0, 1, 2}, {6}, at::TensorOptions().dtype(at::kDouble));
  at::Tensor ref = gmm->ode_solution(x_T, 80.0, 0.002);
  // Heun's error at 10⁴ steps is O(1e-7); if the reference is far more accurate, halving Heun's step
  // divides the measured difference by 4 (a reference error would show up as a floor).
  std::vector<double> errs;
  for (int n : {5001, 10001}) {
    ScheduleSpec s;
    s.num_steps = n;
    test::RunResult heun = test::run_solver("heun", {}, *gmm, x_T, make_schedule(s));
    errs.push_back((heun.x - ref).abs().max().item<double>());
  }
  BOOST_TEST_MESSAGE("max |Heun - reference|: " << errs[0] << " (5000 steps), " << errs[1] << " (10000 steps)");
  BOOST_TEST(errs[1] < 1e-6);
  BOOST_TEST(errs[0] / errs[1] > 3.7);
  BOOST_TEST(errs[0] / errs[1] < 4.3);
}

BOOST_AUTO_TEST_CASE(float32_and_per_sample_sigma) {
  auto gmm = GaussianMixture::random(5, {3, 4, 4}, 1);
  at::Tensor x = 3.0 * seeded_noise({0, 1, 2, 3}, {3, 4, 4}, at::TensorOptions().dtype(at::kDouble));
  at::Tensor sig = at::tensor({0.01, 0.5, 2.0, 40.0}, at::kDouble);
  at::Tensor d64 = gmm->denoise(x, sig);
  for (int i = 0; i < 4; ++i)
    test::check_close(d64[i], gmm->denoise(x.slice(0, i, i + 1), sig.slice(0, i, i + 1))[0], 1e-12, 1e-12,
                      "per-sample sigma row " + std::to_string(i));
  gmm->to(at::kFloat, at::kCPU);
  at::Tensor d32 = gmm->denoise(x.to(at::kFloat), sig.to(at::kFloat));
  BOOST_TEST(d32.scalar_type() == at::kFloat);
  test::check_close(d32, d64, 1e-4, 1e-4, "float32 vs float64 denoiser");
}

BOOST_AUTO_TEST_CASE(exact_samples_have_the_mixture_moments) {
  GaussianMixture g(at::tensor({-1.0, 2.0}, at::kDouble).reshape({2, 1}), at::tensor({0.5, 0.3}, at::kDouble),
                    at::tensor({0.3, 0.7}, at::kDouble));
  std::vector<int64_t> seeds(20000);
  for (int i = 0; i < 20000; ++i) seeds[i] = i;
  at::Tensor x = g.sample_data(seeds);
  double mean = 0.3 * -1 + 0.7 * 2;                                // 1.1
  double var = 0.3 * (0.25 + 1) + 0.7 * (0.09 + 4) - mean * mean;  // 1.948
  BOOST_TEST(std::abs(x.mean().item<double>() - mean) < 5 * std::sqrt(var / 20000));
  BOOST_TEST(std::abs(x.var().item<double>() - var) < 0.05);
  BOOST_TEST(at::equal(g.sample_data({5, 6}), x.slice(0, 5, 7)));  // per-seed, batch invariant
}

BOOST_AUTO_TEST_CASE(invalid_parameters) {
  auto bad = [](at::Tensor m, at::Tensor s, at::Tensor w) {
    try {
      GaussianMixture g(m, s, w);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  at::Tensor m = at::zeros({2, 3}, at::kDouble);
  BOOST_TEST(bad(m, at::ones({3}, at::kDouble), at::ones({2}, at::kDouble)).find("stds must have shape [2]") !=
             std::string::npos);
  BOOST_TEST(bad(m, at::ones({2}, at::kDouble), at::ones({1}, at::kDouble)).find("weights") != std::string::npos);
  BOOST_TEST(bad(m, -at::ones({2}, at::kDouble), at::ones({2}, at::kDouble)).find(">= 0") != std::string::npos);
  BOOST_TEST(bad(m, at::ones({2}, at::kDouble), at::zeros({2}, at::kDouble)).find("> 0") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
