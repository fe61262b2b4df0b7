// Streaming distribution metrics against independent truths: moments streamed in uneven batches and
// merged across shards equal the one-shot float64 fit; KID equals a brute-force double loop of the
// unbiased MMD² and, on large 1-D Gaussian sets, the closed-form population MMD² of the cubic kernel;
// precision/recall against hand-built manifolds and a brute-force k-NN; the EDM uint8 quantisation.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "core/error.h"
#include "metrics/feature_stats.h"
#include "metrics/frechet.h"
#include "metrics/image_features.h"
#include "metrics/kid.h"
#include "metrics/precision_recall.h"
#include "support/check.h"

namespace dsx::test {
namespace {

at::Tensor features(int64_t n, int64_t f, uint64_t seed, double shift = 0.0) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  return at::randn({n, f}, g, at::kDouble) * 0.7 + shift;
}

// Σ_{i≠j} k(x_i, x_j) etc. with explicit loops: the estimator as written in Bińkowski et al.
double brute_force_mmd2(const at::Tensor& x, const at::Tensor& y) {
  const int64_t m = x.size(0), f = x.size(1);
  auto k = [&](const at::Tensor& a, int64_t i, const at::Tensor& b, int64_t j) {
    return std::pow((a[i] * b[j]).sum().item<double>() / double(f) + 1.0, 3);
  };
  double xx = 0, yy = 0, xy = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < m; ++j) {
      if (i != j) xx += k(x, i, x, j), yy += k(y, i, y, j);
      xy += k(x, i, y, j);
    }
  return xx / double(m * (m - 1)) + yy / double(m * (m - 1)) - 2.0 * xy / double(m * m);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(streaming_metrics)

BOOST_AUTO_TEST_CASE(streamed_and_merged_moments_equal_the_one_shot_fit) {
  const at::Tensor x = features(1000, 12, 1, 3.0);  // an offset mean: the naive E[xxᵀ] − μμᵀ would lose digits
  const GaussianFit whole = fit_gaussian(x);
  MomentAccumulator streamed;
  for (int64_t i = 0, b = 1; i < x.size(0); i += b, b = b * 3 % 97 + 1)
    streamed.update(x.narrow(0, i, std::min(b, x.size(0) - i)));
  MomentAccumulator shard1, shard2, shard3, merged;
  shard1.update(x.narrow(0, 0, 10));
  shard2.update(x.narrow(0, 10, 700));
  shard3.update(x.narrow(0, 710, 290));
  merged.merge(shard1);
  merged.merge(shard2);
  merged.merge(shard3);
  for (const MomentAccumulator* m : {&streamed, &merged}) {
    BOOST_TEST(m->count() == 1000);
    const GaussianFit f = m->fit();
    check_close(f.mean, whole.mean, 1e-13, 1e-13, "mean");
    check_close(f.cov, whole.cov, 1e-11, 1e-13, "covariance");
  }
  BOOST_TEST(frechet_distance(streamed.fit(), whole) < 1e-10);
  MomentAccumulator one;
  one.update(x.narrow(0, 0, 1));
  BOOST_CHECK_THROW(one.fit(), Error);
}

BOOST_AUTO_TEST_CASE(feature_bank_keeps_rows_in_order_across_merges) {
  const at::Tensor x = features(50, 4, 2).to(at::kFloat);
  FeatureBank a, b;
  a.update(x.narrow(0, 0, 20));
  b.update(x.narrow(0, 20, 30));
  a.merge(b);
  BOOST_TEST(a.count() == 50);
  BOOST_TEST(at::equal(a.all(), x));
}

BOOST_AUTO_TEST_CASE(mmd2_equals_the_brute_force_estimator) {
  const at::Tensor x = features(9, 5, 3), y = features(9, 5, 4, 0.4);
  BOOST_TEST(polynomial_mmd2(x, y) == brute_force_mmd2(x, y), boost::test_tools::tolerance(1e-12));
  // One subset holding every row (a permutation) is the whole-set estimator; its std is 0.
  const KidValue k = kernel_inception_distance(x, y, {1, 100, 7});
  BOOST_TEST(k.mean == brute_force_mmd2(x, y), boost::test_tools::tolerance(1e-12));
  BOOST_TEST(k.std == 0.0);
}

BOOST_AUTO_TEST_CASE(kid_estimates_the_population_mmd2_of_two_gaussians) {
  // F = 1, x ~ N(0, 1), y ~ N(½, 1), k(x, y) = (xy + 1)³. With the moments m2 = E x², m3 = E x³:
  // E k(x, x') = m3² + 3 m2² + 3 μ² + 1, so E_xx = 4, E_yy = 1.625² + 3·1.25² + 3·¼ + 1, E_xy = 3·1.25 + 1.
  const double exx = 4.0, eyy = 1.625 * 1.625 + 3 * 1.25 * 1.25 + 0.75 + 1.0, exy = 3 * 1.25 + 1.0;
  const double population = exx + eyy - 2 * exy;  // 3.578125
  at::Generator g = at::detail::createCPUGenerator(11);
  const at::Tensor x = at::randn({40000, 1}, g, at::kDouble), y = at::randn({40000, 1}, g, at::kDouble) + 0.5;
  const KidValue k = kernel_inception_distance(x, y, {20, 4000, 0});
  // The mean of 20 subsets of 4000: its standard error is k.std/√20; allow 4 of them.
  BOOST_TEST(std::abs(k.mean - population) < 4 * k.std / std::sqrt(20.0) + 1e-3);
  BOOST_TEST_MESSAGE("KID mean " << k.mean << " std " << k.std << " population " << population);
  BOOST_TEST(k.std > 0.0);
  BOOST_TEST(k.std < 0.2 * population);
  // Same distribution: MMD² 0 (the estimator is unbiased, so the mean straddles 0).
  const KidValue same = kernel_inception_distance(x, at::randn({40000, 1}, g, at::kDouble), {20, 4000, 0});
  BOOST_TEST(std::abs(same.mean) < 4 * same.std / std::sqrt(20.0) + 1e-3);
  // Reproducible from the seed; another seed draws other subsets.
  BOOST_TEST(kernel_inception_distance(x, y, {3, 500, 5}).mean == kernel_inception_distance(x, y, {3, 500, 5}).mean);
  BOOST_TEST(kernel_inception_distance(x, y, {3, 500, 5}).mean != kernel_inception_distance(x, y, {3, 500, 6}).mean);
}

BOOST_AUTO_TEST_CASE(knn_radii_and_coverage_on_a_line) {
  const at::Tensor line = at::tensor({0.0, 1.0, 3.0, 6.0}, at::kDouble).unsqueeze(1);
  check_close(knn_radii(line, 1, 2), {1.0, 1.0, 2.0, 3.0}, 0, 1e-12, "k = 1");
  check_close(knn_radii(line, 2, 3), {3.0, 2.0, 3.0, 5.0}, 0, 1e-12, "k = 2");
  // Balls [−1, 1], [0, 2], [1, 5], [3, 9]: 9.5 and −2 are outside, the boundary 9 is inside.
  const at::Tensor points = at::tensor({-2.0, -1.0, 4.0, 9.0, 9.5}, at::kDouble).unsqueeze(1);
  BOOST_TEST(manifold_coverage(points, line, knn_radii(line, 1), 2) == 0.6, boost::test_tools::tolerance(1e-15));
}

BOOST_AUTO_TEST_CASE(precision_recall_matches_brute_force) {
  const at::Tensor real = features(60, 3, 5), fake = features(45, 3, 6, 0.8);
  auto brute = [](const at::Tensor& pts, const at::Tensor& ctr, int64_t k) {
    int64_t inside = 0;
    for (int64_t i = 0; i < pts.size(0); ++i)
      for (int64_t j = 0; j < ctr.size(0); ++j) {
        const at::Tensor own = std::get<0>((ctr - ctr[j]).square().sum(1).sqrt().sort());  // own[0] = 0 (itself)
        if ((pts[i] - ctr[j]).square().sum().sqrt().item<double>() <= own[k].item<double>()) {
          ++inside;
          break;
        }
      }
    return double(inside) / double(pts.size(0));
  };
  for (int64_t k : {1, 3, 5}) {
    const PrecisionRecall pr = precision_recall(fake, real, k, 7);
    BOOST_TEST_CONTEXT("k = " << k) {
      BOOST_TEST(pr.precision == brute(fake, real, k));
      BOOST_TEST(pr.recall == brute(real, fake, k));
    }
  }
  const PrecisionRecall same = precision_recall(real, real, 3);
  BOOST_TEST(same.precision == 1.0);
  BOOST_TEST(same.recall == 1.0);
  const PrecisionRecall far = precision_recall(real + 100.0, real, 3);
  BOOST_TEST(far.precision == 0.0);
  BOOST_TEST(far.recall == 0.0);
  BOOST_CHECK_THROW(precision_recall(real, real, 60), Error);  // k must be below N
}

BOOST_AUTO_TEST_CASE(uint8_quantisation_is_edms) {
  // floor(clamp(x·127.5 + 128, 0, 255)): −1 → 0 (0.5), 0 → 128, 1 → 255 (255.5 clamped), 0.5 → 191 (191.75).
  const at::Tensor x = at::tensor({-1.5, -1.0, -0.999, 0.0, 0.5, 1.0, 2.0}, at::kFloat);
  const at::Tensor q = to_uint8_images(x);
  BOOST_TEST(q.scalar_type() == at::kByte);
  check_close(q.to(at::kDouble), {0, 0, 0, 128, 191, 255, 255}, 0, 0, "uint8");
  const ImageFeatures px = load_image_features("pixels");
  const at::Tensor f = px.extract(at::zeros({2, 1, 4, 4}));
  BOOST_TEST(f.sizes().vec() == std::vector<int64_t>({2, 16}));
  BOOST_CHECK_THROW(load_image_features("inception"), Error);  // needs a file
  BOOST_CHECK_THROW(load_image_features("clip", "x.pt"), Error);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
