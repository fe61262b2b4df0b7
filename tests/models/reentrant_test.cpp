// Reentrant models: denoise_with_bottleneck gives what denoise() + bottleneck() give, from several threads
// at once without a lock (what parallel teacher workers rely on); exact data samples have the moments
// of the data distribution.
#include <boost/test/unit_test.hpp>

#include <thread>
#include <vector>

#include "core/noise.h"
#include "models/diagonal_gaussian.h"
#include "models/gaussian_mixture.h"

namespace dsx {
namespace {

void check_reentrant(Denoiser& model) {
  BOOST_REQUIRE(model.reentrant());
  constexpr int kThreads = 4;
  std::vector<at::Tensor> x(kThreads), sigma(kThreads), want_out(kThreads), want_feat(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    x[t] = seeded_noise({10 * t, 10 * t + 1, 10 * t + 2}, model.info().sample_shape, at::TensorOptions().dtype(at::kDouble));
    sigma[t] = at::full({3}, 0.3 + t, at::kDouble);
    want_out[t] = model.denoise(x[t], sigma[t]);
    want_feat[t] = model.bottleneck();
    BOOST_REQUIRE(want_feat[t].defined());
  }
  std::vector<at::Tensor> out(kThreads), feat(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 50; ++rep) out[t] = model.denoise_with_bottleneck(x[t], sigma[t], &feat[t]);
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    BOOST_TEST(at::equal(out[t], want_out[t]));
    BOOST_TEST(at::equal(feat[t], want_feat[t]));
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reentrant_models)

BOOST_AUTO_TEST_CASE(mixture_pairs_output_and_feature_per_call) {
  auto mix = GaussianMixture::random(5, {3, 8, 8}, 3);
  check_reentrant(*mix);
}

BOOST_AUTO_TEST_CASE(diagonal_gaussian_pairs_output_and_feature_per_call) {
  at::Tensor mean = at::linspace(-1, 1, 192, at::kDouble).reshape({3, 8, 8});
  DiagonalGaussian g(mean, at::full({3, 8, 8}, 0.4, at::kDouble));
  check_reentrant(g);
}

BOOST_AUTO_TEST_CASE(diagonal_gaussian_data_samples_have_the_data_moments) {
  at::Tensor mean = at::linspace(-1, 1, 192, at::kDouble).reshape({3, 8, 8});
  at::Tensor std = at::linspace(0.1, 0.9, 192, at::kDouble).reshape({3, 8, 8});
  DiagonalGaussian g(mean, std);
  std::vector<int64_t> seeds(4000);
  for (size_t i = 0; i < seeds.size(); ++i) seeds[i] = int64_t(i);
  at::Tensor x = g.sample_data(seeds);
  BOOST_TEST(x.sizes() == at::IntArrayRef({4000, 3, 8, 8}));
  // Standard errors: σ/√4000 ≤ 0.0143 for the mean, ≈ σ/√(2·4000) for the std; 5 standard errors.
  BOOST_TEST(((x.mean(0) - mean) / std).abs().max().item<double>() < 5 / std::sqrt(4000.0));
  BOOST_TEST(((x.std(0) - std) / std).abs().max().item<double>() < 5 / std::sqrt(8000.0));
  BOOST_TEST(at::equal(g.sample_data({7, 8}), x.slice(0, 7, 9)));  // per-seed: any batch gives the same sample
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
