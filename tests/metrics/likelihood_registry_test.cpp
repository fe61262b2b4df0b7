// Exact log-likelihood against hand-computed densities, and the metric registry.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/noise.h"
#include "metrics/frechet.h"
#include "metrics/likelihood.h"
#include "metrics/registry.h"
#include "metrics/sliced_wasserstein.h"
#include "models/diagonal_gaussian.h"
#include "models/gaussian_mixture.h"
#include "support/testbeds.h"

namespace dsx {
namespace {

std::vector<int64_t> seed_range(int64_t first, int64_t count) {
  std::vector<int64_t> s(static_cast<size_t>(count));
  std::iota(s.begin(), s.end(), first);
  return s;
}

// log N(x; m, s²) in 1-D, by hand.
double log_normal(double x, double m, double s) {
  return -0.5 * std::log(2 * M_PI * s * s) - (x - m) * (x - m) / (2 * s * s);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(likelihood)

BOOST_AUTO_TEST_CASE(one_dimensional_mixture_matches_hand_densities) {
  auto gmm = test::gmm_1d();  // π = [0.3, 0.7], μ = [−1, 2], s = [0.5, 0.3]
  const std::vector<double> xs = {-1, 0, 0.5, 2, 3};
  at::Tensor logp = log_density(*gmm, at::tensor(xs, at::kDouble).reshape({5, 1}));
  double mean = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    double p = 0.3 * std::exp(log_normal(xs[i], -1, 0.5)) + 0.7 * std::exp(log_normal(xs[i], 2, 0.3));
    BOOST_CHECK_CLOSE(logp[int64_t(i)].item<double>(), std::log(p), 1e-10);
    mean += std::log(p) / double(xs.size());
  }
  auto ll = log_likelihood(*gmm, at::tensor(xs, at::kFloat).reshape({5, 1}));  // float input: same maths in f64
  BOOST_CHECK_CLOSE(ll.total, mean, 1e-6);
  BOOST_CHECK_EQUAL(ll.per_dim, ll.total);
  // Far out both densities underflow to 0 in double; log-sum-exp keeps the dominant component's log.
  double far = log_density(*gmm, at::full({1, 1}, 50.0, at::kDouble))[0].item<double>();
  BOOST_CHECK_CLOSE(far, std::log(0.3) + log_normal(50, -1, 0.5), 1e-12);
}

BOOST_AUTO_TEST_CASE(isotropic_mixture_in_two_dimensions) {
  at::Tensor means = at::tensor({0.0, 0.0, 1.0, -2.0}, at::kDouble).reshape({2, 2});
  GaussianMixture gmm(means, at::tensor({1.0, 0.4}, at::kDouble), at::tensor({1.0, 3.0}, at::kDouble));
  const double x0 = 0.5, x1 = -1.0;
  double p = 0.25 * std::exp(log_normal(x0, 0, 1) + log_normal(x1, 0, 1)) +
             0.75 * std::exp(log_normal(x0, 1, 0.4) + log_normal(x1, -2, 0.4));
  auto ll = log_likelihood(gmm, at::tensor({x0, x1}, at::kDouble).reshape({1, 2}));
  BOOST_CHECK_CLOSE(ll.total, std::log(p), 1e-10);
  BOOST_CHECK_CLOSE(ll.per_dim, std::log(p) / 2, 1e-10);
}

BOOST_AUTO_TEST_CASE(exact_samples_reach_the_entropy_and_beat_shifted_ones) {
  // K = 1: E[log p] = −H = −(D/2) log(2πe s²); sd of the mean over N samples is √(D/2)/√N ≈ 0.04 here.
  const int64_t d = 6, n = 3000;
  GaussianMixture g(at::full({1, d}, 0.2, at::kDouble), at::tensor({0.7}, at::kDouble), at::ones({1}, at::kDouble));
  auto ll = log_likelihood(g, g.sample_data(seed_range(0, n)));
  BOOST_CHECK_SMALL(ll.per_dim + 0.5 * std::log(2 * M_PI * M_E * 0.49), 0.15 / d);
  // A mixture and the same mixture shifted by 0.5 per coordinate, sampled with the same seeds.
  auto mix = GaussianMixture::random(3, {4}, 7);
  GaussianMixture shifted(mix->means() + 0.5, mix->stds(), mix->weights());
  auto exact = log_likelihood(*mix, mix->sample_data(seed_range(0, 500)));
  auto off = log_likelihood(*mix, shifted.sample_data(seed_range(0, 500)));
  BOOST_TEST_MESSAGE("exact " << exact.per_dim << " shifted " << off.per_dim << " nats/dim");
  BOOST_CHECK_GT(exact.per_dim, off.per_dim + 0.5);
  BOOST_CHECK_EQUAL(exact.total, log_likelihood(*mix, mix->sample_data(seed_range(0, 500))).total);
}

BOOST_AUTO_TEST_CASE(diagonal_gaussian) {
  DiagonalGaussian g(at::tensor({0.3, -0.5, 1.0}, at::kDouble), at::tensor({0.5, 1.0, 0.1}, at::kDouble));
  auto ll = log_likelihood(g, at::tensor({0.0, 0.0, 1.05}, at::kDouble).reshape({1, 3}));
  double want = log_normal(0, 0.3, 0.5) + log_normal(0, -0.5, 1.0) + log_normal(1.05, 1.0, 0.1);
  BOOST_CHECK_CLOSE(ll.total, want, 1e-10);
  BOOST_CHECK_CLOSE(ll.per_dim, want / 3, 1e-10);
}

BOOST_AUTO_TEST_CASE(errors) {
  GaussianMixture empirical(at::zeros({2, 3}, at::kDouble), at::zeros({2}, at::kDouble), at::ones({2}, at::kDouble));
  BOOST_CHECK_THROW(log_likelihood(empirical, at::zeros({4, 3}, at::kDouble)), Error);
  auto gmm = test::gmm_1d();
  BOOST_CHECK_THROW(log_likelihood(*gmm, at::zeros({4, 2}, at::kDouble)), Error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(metric_registry)

BOOST_AUTO_TEST_CASE(names_directions_and_unknown_names) {
  for (const char* name : {"rmse_to_reference", "frechet", "sliced_wasserstein", "frechet_to_reference",
                           "sliced_wasserstein_to_reference", "log_likelihood"})
    BOOST_CHECK_EQUAL(find_metric(name).name, name);
  // What each compares with decides which reference the evaluate stage hands it.
  BOOST_CHECK(find_metric("rmse_to_reference").reference == MetricReference::OdeSolution);
  BOOST_CHECK(find_metric("frechet").reference == MetricReference::DataSamples);
  BOOST_CHECK(find_metric("sliced_wasserstein").reference == MetricReference::DataSamples);
  BOOST_CHECK(find_metric("frechet_to_reference").reference == MetricReference::OdeSolution);
  BOOST_CHECK(find_metric("log_likelihood").reference == MetricReference::None);
  BOOST_CHECK(metric_direction("log_likelihood") == MetricDirection::HigherIsBetter);
  BOOST_CHECK(metric_direction("wall_seconds") == MetricDirection::LowerIsBetter);  // not a registry metric
  BOOST_CHECK(find_metric("log_likelihood").direction == MetricDirection::HigherIsBetter);
  BOOST_CHECK_EQUAL(direction_text(find_metric("frechet").direction), std::string("lower is better"));
  try {
    find_metric("fid");
    BOOST_ERROR("unknown metric accepted");
  } catch (const Error& e) {
    BOOST_CHECK(std::string(e.what()).find("sliced_wasserstein") != std::string::npos);
  }
  try {
    find_metric("frechett");
    BOOST_ERROR("unknown metric accepted");
  } catch (const Error& e) {
    const std::string expected = "metric = 'frechett' is unknown (did you mean 'frechet'?); known: rmse_to_reference, ";
    BOOST_CHECK_EQUAL(std::string(e.what()).rfind(expected, 0), 0u);
  }
}

BOOST_AUTO_TEST_CASE(registered_metrics_match_direct_calls) {
  at::Tensor x = at::tensor({0.0, 0.0, 1.0, 1.0}, at::kDouble).reshape({2, 2});
  at::Tensor y = at::tensor({3.0, 4.0, 1.0, 1.0}, at::kDouble).reshape({2, 2});
  BOOST_CHECK_CLOSE(compute_metric("rmse_to_reference", x, y, nullptr), 2.5, 1e-12);  // √(25/4)
  BOOST_CHECK_THROW(rmse_to_reference(x, y.slice(0, 0, 1)), Error);

  auto mix = GaussianMixture::random(2, {3}, 1);
  at::Tensor a = mix->sample_data(seed_range(0, 64)), b = mix->sample_data(seed_range(64, 80));
  BOOST_CHECK_EQUAL(compute_metric("frechet", a, b, nullptr), frechet_distance(a, b));
  BOOST_CHECK_EQUAL(compute_metric("sliced_wasserstein", a, b, nullptr), sliced_wasserstein(a, b, 256, 0));
  BOOST_CHECK_EQUAL(compute_metric("log_likelihood", a, {}, mix.get()), log_likelihood(*mix, a).per_dim);
  BOOST_CHECK_THROW(compute_metric("frechet", a, {}, nullptr), Error);        // needs reference
  BOOST_CHECK_THROW(compute_metric("log_likelihood", a, b, nullptr), Error);  // needs a model
  // A decorator forwards the density of the model it views (DenoiserDecorator forwards every capability);
  // a model without the Density capability is refused with a clear error.
  CountingDenoiser wrapped(*mix);
  BOOST_CHECK_EQUAL(compute_metric("log_likelihood", a, {}, &wrapped), log_likelihood(*mix, a).per_dim);
  struct NoDensity : DenoiserDecorator {
    using DenoiserDecorator::DenoiserDecorator;
    const Density* density() const override { return nullptr; }
  } blind(*mix);
  BOOST_CHECK_THROW(compute_metric("log_likelihood", a, {}, &blind), Error);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
