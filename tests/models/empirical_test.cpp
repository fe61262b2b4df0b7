// models/empirical.h against independent truths: the GaussianMixture with equal weights and one std (its
// denoiser, density and features' source), chunking that changes nothing, samples that are training images
// (std 0), the one-image closed-form ODE solution and features that are the pooled posterior mean.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "core/error.h"
#include "core/noise.h"
#include "models/empirical.h"
#include "models/gaussian_mixture.h"

namespace dsx {
namespace {

at::Tensor images(int64_t n, std::vector<int64_t> shape, uint64_t seed) {
  std::vector<int64_t> seeds;
  for (int64_t i = 0; i < n; ++i) seeds.push_back(int64_t(seed) * 1000 + i);
  return seeded_noise(seeds, shape, at::TensorOptions().dtype(at::kDouble)).tanh();  // in (−1, 1) like pixels
}

double max_abs(const at::Tensor& a) { return a.abs().max().item<double>(); }

}  // namespace

BOOST_AUTO_TEST_SUITE(empirical_mixture)

BOOST_AUTO_TEST_CASE(equals_the_equal_weight_gaussian_mixture_in_any_chunking) {
  const at::Tensor mu = images(37, {1, 8, 8}, 1);
  for (double std : {0.0, 0.05}) {
    GaussianMixture ref(mu, at::full({37}, std, at::kDouble), at::ones({37}, at::kDouble));
    EmpiricalMixture whole(mu, std, 0.002, 80, "test", 37), chunked(mu, std, 0.002, 80, "test", 5);
    const at::Tensor x = images(6, {1, 8, 8}, 2) + 0.01 * images(6, {1, 8, 8}, 3);
    for (double s : {0.002, 0.05, 1.0, 80.0}) {
      const at::Tensor sig = sigma_like(x, s);
      const at::Tensor want = ref.denoise(x, sig);
      BOOST_TEST(max_abs(whole.denoise(x, sig) - want) <= 1e-12, "std " << std << " σ " << s);
      BOOST_TEST(max_abs(chunked.denoise(x, sig) - want) <= 1e-12, "std " << std << " σ " << s);
    }
    if (std > 0) {
      const at::Tensor lp = whole.log_density(x), lq = ref.log_density(x);
      BOOST_TEST(max_abs(lp - lq) <= 1e-9 * max_abs(lq));
      BOOST_TEST(max_abs(chunked.log_density(x) - lq) <= 1e-9 * max_abs(lq));
    } else {
      BOOST_CHECK_THROW(whole.log_density(x), Error);
    }
  }
}

BOOST_AUTO_TEST_CASE(float32_runs_keep_float64_accuracy) {
  // Neighbours 1e-3 apart at σ = 0.002: float32 distances by |x|² − 2x·μ + |μ|² would misrank them.
  at::Tensor mu = images(2, {1, 16, 16}, 4);
  mu[1].copy_(mu[0] + 1e-3);
  EmpiricalMixture m(mu, 0.0, 0.002, 80, "test");
  auto f32 = m.converted(at::kFloat, at::kCPU);
  const at::Tensor x = (mu[0] + 2e-4).unsqueeze(0);
  const at::Tensor d64 = m.denoise(x, sigma_like(x, 0.002));
  const at::Tensor d32 = f32->denoise(x.to(at::kFloat), sigma_like(x.to(at::kFloat), 0.002));
  BOOST_TEST(d32.scalar_type() == at::kFloat);
  BOOST_TEST(max_abs(d32.to(at::kDouble) - d64) <= 1e-6);
}

BOOST_AUTO_TEST_CASE(samples_features_and_the_one_image_ode) {
  const at::Tensor mu = images(9, {2, 16, 16}, 5);
  EmpiricalMixture m(mu, 0.0, 0.002, 80, "test", 4);
  // With std 0 every data sample is a training image.
  const at::Tensor s = m.sample_data({1, 2, 3, 4, 5});
  for (int64_t i = 0; i < 5; ++i) BOOST_TEST(((mu - s[i]).abs().flatten(1).amax(1) == 0).any().item<bool>());
  // Features: the posterior mean image pooled to 8×8 (here 2×2 blocks), i.e. D itself at std 0.
  const at::Tensor x = images(3, {2, 16, 16}, 6) * 2;
  Features f;
  const at::Tensor d = m.denoise(x, sigma_like(x, 0.7), &f);
  BOOST_TEST((f.map.sizes() == at::IntArrayRef{3, 2, 8, 8}));
  BOOST_TEST(max_abs(f.map - d.reshape({3, 2, 8, 2, 8, 2}).mean({3, 5})) <= 1e-14);
  BOOST_TEST(!EmpiricalMixture(images(3, {64}, 7), 0.1, 0.002, 80, "t").has_features());
  // One image: the ODE is the Gaussian flow x(σ) = μ + (x_T − μ)·sqrt(s² + σ²)/sqrt(s² + σ_T²).
  const at::Tensor one = images(1, {1, 8, 8}, 8);
  EmpiricalMixture g(one, 0.3, 0.002, 80, "t");
  const at::Tensor xT = 80 * images(2, {1, 8, 8}, 9);
  const at::Tensor exact = one + (xT - one) * (std::sqrt(0.09 + 0.002 * 0.002) / std::sqrt(0.09 + 6400));
  BOOST_TEST(max_abs(g.ode_solution(xT, 80, 0.002) - exact) <= 1e-8);
  BOOST_TEST(g.info().fingerprint != EmpiricalMixture(one, 0.2, 0.002, 80, "t").info().fingerprint);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
