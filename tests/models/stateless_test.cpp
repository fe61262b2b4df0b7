// Models are stateless shared resources: denoise() with a Features out-parameter gives, from several
// threads at once, exactly what one call at a time gives (what parallel teacher and evaluate workers rely
// on); the features are the closed forms the models document; the ModelPool loads each definition once and
// converts each (fingerprint, dtype, device) once; exact data samples have the moments of the data.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <thread>
#include <vector>

#include "core/noise.h"
#include "models/diagonal_gaussian.h"
#include "models/gaussian_mixture.h"
#include "models/model_pool.h"
#include "support/check.h"

namespace dsx {
namespace {

// Features of each thread's inputs, computed one call at a time first, then by 4 threads at once.
std::vector<at::Tensor> check_concurrent(const Denoiser& model) {
  BOOST_REQUIRE(model.has_features());
  constexpr int kThreads = 4;
  std::vector<at::Tensor> x(kThreads), sigma(kThreads), want_out(kThreads), want_feat(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    x[t] = seeded_noise({10 * t, 10 * t + 1, 10 * t + 2}, model.info().sample_shape,
                        at::TensorOptions().dtype(at::kDouble));
    sigma[t] = at::full({3}, 0.3 + t, at::kDouble);
    Features f;
    want_out[t] = model.denoise(x[t], sigma[t], &f);
    want_feat[t] = f.map;
    BOOST_REQUIRE(want_feat[t].defined());
    BOOST_TEST(at::equal(model.denoise(x[t], sigma[t]), want_out[t]));  // the out-parameter changes nothing
  }
  std::vector<at::Tensor> out(kThreads), feat(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 50; ++rep) {
        Features f;
        out[t] = model.denoise(x[t], sigma[t], &f);
        feat[t] = f.map;
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    BOOST_TEST(at::equal(out[t], want_out[t]));
    BOOST_TEST(at::equal(feat[t], want_feat[t]));
  }
  return want_feat;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(stateless_models)

BOOST_AUTO_TEST_CASE(mixture_features_are_the_posterior_responsibilities) {
  auto mix = GaussianMixture::random(5, {3, 8, 8}, 3);
  std::vector<at::Tensor> feat = check_concurrent(*mix);
  // Slots 0..4 hold P(component k | x) — a distribution — and the rest are zero.
  for (const auto& f : feat) {
    BOOST_TEST((f.sizes() == at::IntArrayRef{3, 1, 8, 8}));
    at::Tensor w = f.reshape({3, 64});
    test::check_close(w.sum(1), std::vector<double>(3, 1.0), 1e-12, 0, "responsibilities sum to 1");
    BOOST_TEST(w.narrow(1, 5, 59).abs().max().item<double>() == 0.0);
    BOOST_TEST(w.min().item<double>() >= 0.0);
  }
}

BOOST_AUTO_TEST_CASE(diagonal_gaussian_feature_is_the_unit_variance_input) {
  at::Tensor mean = at::linspace(-1, 1, 192, at::kDouble).reshape({3, 8, 8});
  DiagonalGaussian g(mean, at::full({3, 8, 8}, 0.4, at::kDouble));
  check_concurrent(g);
  at::Tensor x = seeded_noise({1, 2}, {3, 8, 8}, at::TensorOptions().dtype(at::kDouble));
  Features f;
  g.denoise(x, at::tensor({0.5, 2.0}, at::kDouble), &f);
  test::check_close(f.map[1], (x[1] / std::sqrt(5.0)).flatten(), 1e-15, 0, "x/sqrt(1+σ²) at σ = 2");
  BOOST_TEST(!DiagonalGaussian(at::zeros({3}), at::ones({3})).has_features());  // not an 8×8 layout
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

// DESIGN convention: the same seed gives the same sample whatever the batch. Each row of a float32 batch
// equals, bit for bit, the same row denoised alone and at another position of a rolled batch.
BOOST_AUTO_TEST_CASE(mixture_denoiser_is_batch_invariant_to_the_bit) {
  auto mix = GaussianMixture::random(16, {3, 8, 8}, 2);
  mix->to(at::kFloat, at::kCPU);
  std::vector<int64_t> seeds(40);
  for (int i = 0; i < 40; ++i) seeds[size_t(i)] = i;
  at::Tensor x = 3 * seeded_noise(seeds, {3, 8, 8}, at::TensorOptions().dtype(at::kFloat));
  at::Tensor sigma = at::linspace(0.05, 5.0, 40, at::kFloat);
  at::Tensor d = mix->denoise(x, sigma);
  at::Tensor rolled =
      mix->denoise(at::cat({x.slice(0, 20), x.slice(0, 0, 20)}), at::cat({sigma.slice(0, 20), sigma.slice(0, 0, 20)}));
  BOOST_TEST(at::equal(rolled.slice(0, 0, 20), d.slice(0, 20)));
  BOOST_TEST(at::equal(rolled.slice(0, 20), d.slice(0, 0, 20)));
  for (int64_t i : {0, 7, 39})
    BOOST_TEST(at::equal(mix->denoise(x.slice(0, i, i + 1), sigma.slice(0, i, i + 1)), d.slice(0, i, i + 1)));
}

BOOST_AUTO_TEST_CASE(converted_copies_leave_the_model_as_it_is) {
  auto mix = std::shared_ptr<GaussianMixture>(GaussianMixture::random(3, {4}, 1));
  ModelPtr f32 = mix->converted(at::kFloat, at::kCPU);
  BOOST_TEST(f32->info().dtype == at::kFloat);
  BOOST_TEST(mix->info().dtype == at::kDouble);
  BOOST_TEST(f32->info().fingerprint == mix->info().fingerprint);  // the same model, another precision
  at::Tensor x = seeded_noise({0, 1}, {4}, at::TensorOptions().dtype(at::kDouble));
  at::Tensor s = at::full({2}, 0.7, at::kDouble);
  BOOST_TEST(f32->denoise(x.to(at::kFloat), s.to(at::kFloat)).scalar_type() == at::kFloat);
  test::check_close(f32->denoise(x.to(at::kFloat), s.to(at::kFloat)).to(at::kDouble), mix->denoise(x, s), 0, 1e-5,
                    "float32 copy");
  BOOST_TEST(f32->exact() != nullptr);  // capabilities survive the conversion
  BOOST_TEST(f32->density() != nullptr);
}

BOOST_AUTO_TEST_CASE(pool_loads_each_definition_once_and_converts_each_variant_once) {
  ModelPool pool;
  int built = 0;
  auto load = [&] {
    ++built;
    return ModelPtr(GaussianMixture::random(2, {3}, 5));
  };
  ModelPtr a = pool.load("mix-a", load), b = pool.load("mix-a", load);
  BOOST_TEST(a.get() == b.get());
  BOOST_TEST(built == 1);
  pool.load("mix-b", load);
  BOOST_TEST(built == 2);
  BOOST_TEST(pool.loads() == 2);
  BOOST_TEST(pool.in_precision(a, at::kDouble, at::kCPU).get() == a.get());  // already there: no copy
  ModelPtr f1 = pool.in_precision(a, at::kFloat, at::kCPU), f2 = pool.in_precision(b, at::kFloat, at::kCPU);
  BOOST_TEST(f1.get() == f2.get());
  BOOST_TEST(pool.conversions() == 1);
  // Concurrent first requests of one key end with one shared object.
  std::vector<ModelPtr> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&, t] { got[t] = pool.load("mix-c", load); });
  for (auto& th : threads) th.join();
  for (const auto& g : got) BOOST_TEST(g.get() == got[0].get());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
