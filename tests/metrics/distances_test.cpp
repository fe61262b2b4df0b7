// Fréchet and sliced Wasserstein distances against closed forms and exact identities.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/noise.h"
#include "metrics/frechet.h"
#include "metrics/sliced_wasserstein.h"

namespace dsx {
namespace {

std::vector<int64_t> seed_range(int64_t first, int64_t count) {
  std::vector<int64_t> s(static_cast<size_t>(count));
  std::iota(s.begin(), s.end(), first);
  return s;
}

// Exact samples of N(mu, diag(s²)): per-seed noise, so the sets are reproducible.
at::Tensor gaussian_samples(const std::vector<double>& mu, const std::vector<double>& s, int64_t first, int64_t n) {
  at::Tensor z = seeded_noise(seed_range(first, n), {int64_t(mu.size())}, at::kDouble);
  return at::tensor(mu, at::kDouble) + at::tensor(s, at::kDouble) * z;
}

double diag_closed_form(const std::vector<double>& m1, const std::vector<double>& s1, const std::vector<double>& m2,
                        const std::vector<double>& s2) {
  double fd = 0;
  for (size_t i = 0; i < m1.size(); ++i) fd += std::pow(m1[i] - m2[i], 2) + std::pow(s1[i] - s2[i], 2);
  return fd;
}

const std::vector<double> kM1 = {0, 0, 0, 0}, kS1 = {1, 1, 0.5, 2};
const std::vector<double> kM2 = {0.5, -0.5, 0.25, 0}, kS2 = {1.5, 1, 0.5, 1};

}  // namespace

BOOST_AUTO_TEST_SUITE(frechet)

BOOST_AUTO_TEST_CASE(exact_moments_give_the_closed_form) {
  auto fit = [](const std::vector<double>& m, const std::vector<double>& s) {
    at::Tensor sd = at::tensor(s, at::kDouble);
    return GaussianFit{at::tensor(m, at::kDouble), at::diag(sd * sd)};
  };
  double want = diag_closed_form(kM1, kS1, kM2, kS2);  // 0.5625 + 1.25
  BOOST_CHECK_CLOSE(frechet_distance(fit(kM1, kS1), fit(kM2, kS2)), want, 1e-10);
  BOOST_CHECK_CLOSE(frechet_distance(fit(kM2, kS2), fit(kM1, kS1)), want, 1e-10);
}

BOOST_AUTO_TEST_CASE(non_commuting_covariances_match_the_2x2_formula) {
  // For 2×2 PSD M: tr √M = √(tr M + 2√det M); with M = Σ1^½ Σ2 Σ1^½: tr M = tr Σ1Σ2, det M = det Σ1 det Σ2.
  at::Tensor a = at::tensor({2.0, 0.6, 0.6, 1.0}, at::kDouble).reshape({2, 2});
  at::Tensor b = at::tensor({0.5, -0.3, -0.3, 1.5}, at::kDouble).reshape({2, 2});
  double want = std::sqrt(at::matmul(a, b).trace().item<double>() +
                          2 * std::sqrt(at::det(a).item<double>() * at::det(b).item<double>()));
  BOOST_CHECK_CLOSE(trace_sqrt_product(a, b), want, 1e-10);
  BOOST_CHECK_CLOSE(trace_sqrt_product(b, a), want, 1e-10);
  GaussianFit ga{at::zeros({2}, at::kDouble), a}, gb{at::ones({2}, at::kDouble), b};
  BOOST_CHECK_CLOSE(frechet_distance(ga, gb), 2.0 + 3.0 + 2.0 - 2 * want, 1e-10);  // |Δμ|² = 2, tr Σ = 3, 2
}

BOOST_AUTO_TEST_CASE(large_samples_converge_to_the_closed_form) {
  const int64_t n = 20000;
  double fd = frechet_distance(gaussian_samples(kM1, kS1, 0, n), gaussian_samples(kM2, kS2, n, n));
  double want = diag_closed_form(kM1, kS1, kM2, kS2);
  BOOST_TEST_MESSAGE("FD " << fd << " closed form " << want);
  // Sampling sd ≈ 0.03 at N = 20000 (mean term 2|Δμ·e|, std terms 2|Δs|·sd(ŝ)); 0.1 is > 3 sd.
  BOOST_CHECK_SMALL(fd - want, 0.1);
}

BOOST_AUTO_TEST_CASE(identity_and_symmetry) {
  at::Tensor x = gaussian_samples({1, -2, 0, 3, 0.5, 0}, {0.3, 1, 2, 0.1, 1, 5}, 0, 300);
  at::Tensor y = gaussian_samples({0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1}, 300, 200);
  double scale = fit_gaussian(x).cov.trace().item<double>();
  BOOST_CHECK_SMALL(frechet_distance(x, x), 1e-10 * scale);
  BOOST_CHECK_CLOSE(frechet_distance(x, y), frechet_distance(y, x), 1e-9);
  BOOST_CHECK_EQUAL(frechet_distance(x, y), frechet_distance(x, y));  // deterministic
}

BOOST_AUTO_TEST_CASE(rank_deficient_covariances) {
  // N ≤ D: covariances of rank N − 1. Independent truths: a pure shift changes only the mean term, and the
  // cross term equals the nuclear norm of A Bᵀ/√((N−1)(M−1)) for centred data A, B (same nonzero spectrum).
  const int64_t d = 32;
  std::vector<double> mu(d, 0.0), s(d, 1.0);
  at::Tensor x = gaussian_samples(mu, s, 0, 8), y = gaussian_samples(mu, s, 100, 11);
  at::Tensor c = at::linspace(-1, 1, d, at::kDouble);
  double scale = fit_gaussian(x).cov.trace().item<double>();
  BOOST_CHECK_SMALL(frechet_distance(x, x), 1e-10 * scale);
  BOOST_CHECK_CLOSE(frechet_distance(x, x + c), c.square().sum().item<double>(), 1e-8);
  at::Tensor a = x - x.mean(0), b = y - y.mean(0);
  double nuclear = at::linalg_svdvals(at::matmul(a, b.t())).sum().item<double>() / std::sqrt(7.0 * 10.0);
  auto fx = fit_gaussian(x), fy = fit_gaussian(y);
  BOOST_CHECK_CLOSE(trace_sqrt_product(fx.cov, fy.cov), nuclear, 1e-8);
  double want = (fx.mean - fy.mean).square().sum().item<double>() + fx.cov.trace().item<double>() +
                fy.cov.trace().item<double>() - 2 * nuclear;
  BOOST_CHECK_CLOSE(frechet_distance(x, y), want, 1e-8);
}

BOOST_AUTO_TEST_CASE(feature_space_variant) {
  at::Tensor x = gaussian_samples({0, 1, 2}, {1, 1, 1}, 0, 50).reshape({50, 3, 1});
  at::Tensor y = gaussian_samples({0, 0, 2}, {1, 2, 1}, 50, 40).reshape({40, 3, 1});
  FeatureExtractor f = [](const at::Tensor& b) {
    at::Tensor v = b.reshape({b.size(0), -1});
    return at::cat({v, at::tanh(v)}, 1);
  };
  double direct = frechet_feature_distance(f(x), f(y));
  BOOST_CHECK_CLOSE(frechet_feature_distance(x, y, f, 7), direct, 1e-10);  // batching changes nothing
  BOOST_CHECK_THROW(frechet_feature_distance(x, y), Error);                // raw [N, 3, 1] is not features
  BOOST_CHECK_THROW(frechet_distance(x.slice(0, 0, 1), y), Error);         // one sample has no covariance
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(sliced_wasserstein_distance)

BOOST_AUTO_TEST_CASE(self_distance_is_zero_and_seeded) {
  at::Tensor x = gaussian_samples({0, 1, 2, 3}, {1, 2, 3, 4}, 0, 100);
  BOOST_CHECK_EQUAL(sliced_wasserstein(x, x), 0.0);
  at::Tensor y = gaussian_samples({0, 1, 2, 3}, {1, 2, 3, 4}, 100, 100);
  BOOST_CHECK_EQUAL(sliced_wasserstein(x, y, 64, 5), sliced_wasserstein(x, y, 64, 5));
  BOOST_CHECK_NE(sliced_wasserstein(x, y, 64, 5), sliced_wasserstein(x, y, 64, 6));
  at::Tensor dirs = random_directions(64, 4, 5);
  BOOST_CHECK_SMALL((dirs.norm(2, {1}) - 1).abs().max().item<double>(), 1e-14);
}

BOOST_AUTO_TEST_CASE(shifted_copy_is_the_projected_shift) {
  // y = x + δ keeps every projection's order, so W2²(θ) = (δ·θ)² exactly; E over the sphere is |δ|²/D.
  const int64_t d = 6;
  at::Tensor x = gaussian_samples(std::vector<double>(d, 0.0), std::vector<double>(d, 1.0), 0, 200);
  at::Tensor delta = at::tensor({1.0, -2.0, 0.5, 0.0, 1.0, 1.5}, at::kDouble);
  at::Tensor dirs = random_directions(256, d, 0);
  double want = std::sqrt(at::matmul(dirs, delta).square().mean().item<double>());
  BOOST_CHECK_CLOSE(sliced_wasserstein(x, x + delta), want, 1e-10);
  BOOST_CHECK_CLOSE(sliced_wasserstein(x, x + delta, dirs), want, 1e-10);
}

BOOST_AUTO_TEST_CASE(independent_gaussians_shifted_by_delta) {
  // N(μ, I) vs N(μ + δ, I): projections are N(μ·θ, 1) and N((μ+δ)·θ, 1), W2² = (δ·θ)², and
  // E_θ (δ·θ)² = |δ|²/D for θ uniform on the sphere, so SW2 ≈ |δ|/√D.
  const int64_t d = 8, n = 2000, p = 2048;
  std::vector<double> mu = {0.3, -1, 2, 0, 0, 1, -0.5, 0.2}, ones(d, 1.0), shifted(mu);
  std::vector<double> delta = {2, -2, 2, -2, 2, -2, 2, -4};  // |δ|² = 44, E SW2² = 5.5
  for (int64_t i = 0; i < d; ++i) shifted[size_t(i)] += delta[size_t(i)];
  at::Tensor x = gaussian_samples(mu, ones, 0, n), y = gaussian_samples(shifted, ones, n, n);
  double sw2 = std::pow(sliced_wasserstein(x, y, p, 0), 2);
  // Given the directions only sample noise remains, mainly the sample-mean mismatch: relative sd ≈
  // 2√(2/N)/|δ| ≈ 1% (measured 1.4% over 10 independent draws), so 5% is > 3.5 sd.
  double given_dirs =
      at::matmul(random_directions(p, d, 0), at::tensor(delta, at::kDouble)).square().mean().item<double>();
  BOOST_TEST_MESSAGE("SW2^2 " << sw2 << " given directions " << given_dirs << " |delta|^2/D " << 44.0 / d);
  BOOST_CHECK_CLOSE(sw2, given_dirs, 5.0);
  // Over random directions add relative sd ≈ 1.18/√P (Beta(½, 7/2) spread of (u·θ)²) ≈ 2.6%: total ≈ 2.8%.
  BOOST_CHECK_CLOSE(sw2, 44.0 / d, 10.0);
}

BOOST_AUTO_TEST_CASE(unequal_counts_use_exact_quantile_functions) {
  // {0, 1} vs {0, 1, 2}: quantiles differ by 1 on (1/3, 1/2] and (2/3, 1] → W2² = 1/6 + 1/3.
  at::Tensor a = at::tensor({0.0, 1.0}, at::kDouble).reshape({2, 1});
  at::Tensor b = at::tensor({2.0, 0.0, 1.0}, at::kDouble).reshape({3, 1});
  BOOST_CHECK_CLOSE(wasserstein2_squared_1d(a, b).item<double>(), 0.5, 1e-12);
  BOOST_CHECK_CLOSE(wasserstein2_squared_1d(b, a).item<double>(), 0.5, 1e-12);
  // One point c vs a set: W2² = mean (b − c)².
  BOOST_CHECK_CLOSE(wasserstein2_squared_1d(at::full({1, 1}, 0.5, at::kDouble), b).item<double>(),
                    (2.25 + 0.25 + 0.25) / 3, 1e-12);
  // Repeating a set leaves its empirical distribution unchanged.
  at::Tensor x = gaussian_samples({0, 1, 2}, {1, 1, 1}, 0, 30), y = gaussian_samples({1, 1, 1}, {2, 1, 1}, 30, 20);
  BOOST_CHECK_CLOSE(sliced_wasserstein(x, at::cat({y, y, y})), sliced_wasserstein(x, y), 1e-10);
  BOOST_CHECK_THROW(sliced_wasserstein(x, y.slice(1, 0, 2)), Error);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
