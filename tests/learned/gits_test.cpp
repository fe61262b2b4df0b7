// GITS (learned/gits.h) against independent truths: the cost matrix against a per-sample loop over plain
// doubles, the chord deviation on constructed planar points, the DP against enumeration of every path
// (value, and the official tie rule on exactly representable ties), and the README's published CIFAR-10
// schedule as indices of the 61-point grid.
#include <boost/test/unit_test.hpp>

#include <ATen/ATen.h>

#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "diffusion/schedule.h"
#include "learned/gits.h"
#include "support/check.h"
#include "support/scratch.h"
#include "support/testbeds.h"

using namespace dsx;

namespace {

using Vec = std::vector<double>;

Vec row(const at::Tensor& t) {  // a 1-D double tensor as a vector
  at::Tensor c = t.to(at::kDouble).contiguous();
  return Vec(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

double norm2(const Vec& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

// Distance of y from the line through a and b, by Gram–Schmidt on plain doubles.
double deviation(const Vec& y, const Vec& a, const Vec& b) {
  Vec u(y.size()), r(y.size());
  for (size_t k = 0; k < y.size(); ++k) u[k] = b[k] - a[k];
  const double len = norm2(u);
  double dot = 0;
  for (size_t k = 0; k < y.size(); ++k) dot += (b[k] - y[k]) * u[k] / len;
  for (size_t k = 0; k < y.size(); ++k) r[k] = (b[k] - y[k]) - dot * u[k] / len;
  return norm2(r);
}

// The official cost matrix, one sample and one pair at a time.
at::Tensor cost_by_loops(const at::Tensor& states, const at::Tensor& dirs, const Vec& sigmas, GitsMetric metric) {
  const int64_t b = states.size(0), n = states.size(1);
  const at::Tensor x = states.reshape({b, n, -1}), d = dirs.reshape({b, n - 1, -1});
  at::Tensor c = at::zeros({n, n}, at::kDouble);
  for (int64_t i = 0; i + 1 < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) {
      double total = 0;
      for (int64_t s = 0; s < b; ++s) {
        const Vec xi = row(x[s][i]), di = row(d[s][i]), xj = row(x[s][j]);
        const Vec start = row(x[s][0]), end = row(x[s][n - 1]);
        Vec pred(xi.size()), diff(xi.size());
        for (size_t k = 0; k < xi.size(); ++k) {
          pred[k] = xi[k] + (sigmas[size_t(j)] - sigmas[size_t(i)]) * di[k];
          diff[k] = pred[k] - xj[k];
        }
        if (metric == GitsMetric::L2) total += norm2(diff);
        if (metric == GitsMetric::L1)
          for (double v : diff) total += std::abs(v);
        if (metric == GitsMetric::Dev)
          total += deviation(pred, start, end) - (j == n - 1 ? 0.0 : deviation(xj, start, end));
      }
      c[i][j] = total / double(b);
    }
  return c;
}

// Every path 0 < p_1 < … < p_{K−1} < N−1, in lexicographic order.
void each_path(int64_t n, int64_t steps, const std::function<void(const std::vector<int64_t>&)>& f) {
  std::vector<int64_t> p = {0};
  std::function<void(int64_t)> rec = [&](int64_t from) {
    if (int64_t(p.size()) == steps) {
      p.push_back(n - 1);
      f(p);
      p.pop_back();
      return;
    }
    for (int64_t i = from; i < n - 1; ++i) {
      p.push_back(i);
      rec(i + 1);
      p.pop_back();
    }
  };
  rec(1);
}

struct Trajectories {
  at::Tensor states, dirs;
  Vec sigmas;
};

Trajectories curved(int64_t b, int64_t n, uint64_t seed) {
  at::manual_seed(int64_t(seed));
  Trajectories t;
  t.sigmas = test::family_grid("polynomial", int(n));
  // Bent paths: a random start, a random end and a random bend, plus noise (not planar, not straight).
  const at::Tensor a = at::randn({b, 1, 2, 3}, at::kDouble) * 10, e = at::randn({b, 1, 2, 3}, at::kDouble);
  const at::Tensor bend = at::randn({b, 1, 2, 3}, at::kDouble) * 3;
  const at::Tensor s = at::linspace(0, 1, n, at::kDouble).view({1, n, 1, 1});
  t.states = a + (e - a) * s + bend * s * (1 - s) + 0.1 * at::randn({b, n, 2, 3}, at::kDouble);
  // Directions near the teacher's own secants: one-step predictions land close to the next point, on
  // either side of the chord (the signed dev cost takes both signs).
  const at::Tensor h = at::tensor(t.sigmas, at::kDouble).diff().view({1, n - 1, 1, 1});
  t.dirs = t.states.diff(1, 1) / h + 0.05 * at::randn({b, n - 1, 2, 3}, at::kDouble);
  return t;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(gits)

BOOST_AUTO_TEST_CASE(chord_deviation_of_constructed_points) {
  // Start (0, 0, 0), end (2, 0, 0): y = (1, 3, 4) is 5 from the chord, (7, 0, 0) on its line is 0, and the
  // deviation does not depend on where along the chord the foot lies.
  const at::Tensor start = at::tensor({0.0, 0.0, 0.0}, at::kDouble).view({1, 3});
  const at::Tensor end = at::tensor({2.0, 0.0, 0.0}, at::kDouble).view({1, 3});
  const at::Tensor y = at::tensor({1.0, 3.0, 4.0, 7.0, 0.0, 0.0, -5.0, 3.0, 4.0}, at::kDouble).view({3, 3});
  const at::Tensor d = chord_deviation(y, start.expand({3, 3}), end.expand({3, 3}));
  dsx::test::check_close(d, std::vector<double>{5.0, 0.0, 5.0}, 0, 1e-14, "deviation");
}

BOOST_AUTO_TEST_CASE(cost_matrix_equals_the_per_sample_loops) {
  const Trajectories t = curved(5, 7, 1);
  for (GitsMetric metric : {GitsMetric::Dev, GitsMetric::L1, GitsMetric::L2}) {
    GitsCost whole(t.sigmas, metric), split(t.sigmas, metric);
    whole.add(t.states, t.dirs);
    split.add(t.states.slice(0, 0, 2), t.dirs.slice(0, 0, 2));  // batches of 2 and 3: the same mean
    split.add(t.states.slice(0, 2), t.dirs.slice(0, 2));
    const at::Tensor want = cost_by_loops(t.states, t.dirs, t.sigmas, metric);
    dsx::test::check_close(whole.matrix(), want, 1e-12, 1e-12, "cost");
    dsx::test::check_close(split.matrix(), want, 1e-12, 1e-12, "cost, two batches");
    BOOST_TEST(whole.count() == 5);
  }
  // dev is signed: a step that lands nearer the chord than the teacher point costs less than nothing.
  const at::Tensor dev = cost_by_loops(t.states, t.dirs, t.sigmas, GitsMetric::Dev);
  BOOST_TEST(dev.min().item<double>() < 0.0);
}

BOOST_AUTO_TEST_CASE(dp_equals_enumeration_of_every_path) {
  at::manual_seed(3);
  const int64_t n = 9;
  const at::Tensor cost = at::rand({n, n}, at::kDouble).triu(1) * 5;
  for (double coeff : {1.15, 0.8, 1.0}) {
    for (int64_t k = 1; k <= n - 1; ++k) {
      double best = std::numeric_limits<double>::infinity();
      each_path(n, k, [&](const std::vector<int64_t>& p) { best = std::min(best, gits_path_cost(cost, p, coeff)); });
      const GitsPath found = gits_search(cost, k, coeff);
      BOOST_TEST_INFO("coeff " << coeff << ", " << k << " steps");
      BOOST_TEST(found.indices.size() == size_t(k + 1));
      BOOST_TEST(found.indices.front() == 0);
      BOOST_TEST(found.indices.back() == n - 1);
      BOOST_TEST(std::abs(found.cost - best) <= 1e-12 * std::abs(best));
      BOOST_TEST(std::abs(gits_path_cost(cost, found.indices, coeff) - best) <= 1e-12 * std::abs(best));
    }
  }
}

BOOST_AUTO_TEST_CASE(ties_take_the_smallest_index_at_each_step) {
  // Small integer costs and coeff 1 or 2: every sum is exact, so ties are real ties. The official
  // back-tracking takes the smallest next index attaining the optimum at every step, which makes the
  // result the lexicographically first optimal path.
  at::manual_seed(5);
  const int64_t n = 8;
  for (int trial = 0; trial < 20; ++trial) {
    const at::Tensor cost = at::randint(0, 3, {n, n}, at::kDouble).triu(1);
    for (double coeff : {1.0, 2.0})
      for (int64_t k = 1; k <= n - 1; ++k) {
        double best = std::numeric_limits<double>::infinity();
        std::vector<int64_t> first;
        each_path(n, k, [&](const std::vector<int64_t>& p) {
          const double c = gits_path_cost(cost, p, coeff);
          if (c < best) best = c, first = p;  // strict: the first (smallest) optimal path is kept
        });
        const GitsPath found = gits_search(cost, k, coeff);
        BOOST_TEST_INFO("trial " << trial << ", coeff " << coeff << ", " << k << " steps");
        BOOST_TEST(found.cost == best);
        BOOST_TEST(found.indices == first, boost::test_tools::per_element());
      }
  }
}

BOOST_AUTO_TEST_CASE(bad_requests_are_refused) {
  const at::Tensor cost = at::zeros({5, 5}, at::kDouble);
  using dsx::test::error_message;
  BOOST_TEST(error_message([&] { gits_search(cost, 5, 1.15); }).find("1 to 4") != std::string::npos);
  BOOST_TEST(error_message([&] { gits_search(cost, 0, 1.15); }).find("1 to 4") != std::string::npos);
  BOOST_TEST(error_message([] { gits_metric("bdev"); }).find("dev, l1, l2") != std::string::npos);  // launch.sh's
}

BOOST_AUTO_TEST_CASE(readme_cifar10_schedule_is_a_subgrid_of_the_61_point_grid) {
  // gits-main's README: the CIFAR-10 iPNDM NFE-6 schedule [80, 10.9836, 3.8811, 1.584, 0.5666, 0.1698, 0.002]
  // is indices [0, 19, 27, 33, 39, 45, 60] of the 61-point polynomial ρ = 7 grid (notes/learned.md §2.5).
  const Vec grid = test::family_grid("polynomial", 61);
  const std::vector<int64_t> idx = {0, 19, 27, 33, 39, 45, 60};
  const Vec published = {80, 10.9836, 3.8811, 1.584, 0.5666, 0.1698, 0.002};
  const std::vector<int> decimals = {0, 4, 4, 3, 4, 4, 3};  // as printed: equal up to half the last digit
  for (size_t m = 0; m < idx.size(); ++m)
    BOOST_TEST(std::abs(grid[size_t(idx[m])] - published[m]) <= 0.5 * std::pow(10.0, -decimals[m]) + 1e-12);
  // The neighbours of each index are outside that rounding: the published list pins the indices.
  for (size_t m = 1; m + 1 < idx.size(); ++m)
    for (int64_t nb : {idx[m] - 1, idx[m] + 1})
      BOOST_TEST(std::abs(grid[size_t(nb)] - published[m]) > 0.5 * std::pow(10.0, -decimals[m]));
}

BOOST_AUTO_TEST_SUITE_END()
