// Trajectory geometry (learned/geometry.h) on constructed trajectories whose answers are known in closed form:
// a straight line (one principal direction, no deviation, no turning), a circular arc in a random plane of
// R^12 (two directions; deviation and turning angles of a circle), and a helix (three directions needed).
#include <boost/test/unit_test.hpp>

#include <ATen/ATen.h>

#include <cmath>

#include "learned/geometry.h"
#include "support/check.h"

using namespace dsx;

namespace {

// An orthonormal frame [3, D] of R^D.
at::Tensor frame(int64_t d, int64_t seed) {
  at::manual_seed(seed);
  return std::get<0>(at::linalg_qr(at::randn({d, 3}, at::kDouble))).t().contiguous();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(geometry)

BOOST_AUTO_TEST_CASE(straight_lines) {
  const at::Tensor f = frame(12, 1);
  const at::Tensor t = at::linspace(0, 1, 9, at::kDouble).pow(2).view({1, 9, 1});  // uneven steps
  const at::Tensor x = (3.0 * f[0] + t * 5.0 * f[1].view({1, 1, 12})).view({1, 9, 3, 4});
  const TrajectoryGeometry g = trajectory_geometry(x);
  BOOST_TEST(std::abs(g.explained[0].item<double>() - 1.0) < 1e-12);
  BOOST_TEST(g.deviation.abs().max().item<double>() < 1e-12);
  BOOST_TEST(g.angle.abs().max().item<double>() < 1e-5);  // arccos near 1: √ε
}

BOOST_AUTO_TEST_CASE(circular_arcs_are_planar_with_circle_geometry) {
  // A quarter circle of radius R in the plane of two frame vectors, at N equally spaced angles θ_i = iΔ:
  // consecutive secants turn by Δ; the point at θ lies R·(cos(θ − π/4) − cos(π/4)) from the chord, whose
  // length is R√2.
  const int64_t n = 11;
  const double r = 2.5, delta = (M_PI / 2) / double(n - 1);
  const at::Tensor f = frame(12, 2);
  const at::Tensor th = at::arange(n, at::kDouble) * delta;
  const at::Tensor x = r * (th.cos().view({n, 1}) * f[0] + th.sin().view({n, 1}) * f[1]) + 0.7 * f[2];
  const TrajectoryGeometry g = trajectory_geometry(x.unsqueeze(0));
  BOOST_TEST(g.explained[0].item<double>() < 0.99);
  BOOST_TEST(std::abs(g.explained[1].item<double>() - 1.0) < 1e-12);
  std::vector<double> dev, ang;
  for (int64_t i = 0; i < n; ++i)
    dev.push_back((std::cos(double(i) * delta - M_PI / 4) - std::cos(M_PI / 4)) / std::sqrt(2.0));
  for (int64_t i = 0; i + 2 < n; ++i) ang.push_back(delta * 180 / M_PI);
  test::check_close(g.deviation[0], dev, 1e-12, 1e-12, "deviation / chord");
  test::check_close(g.angle[0], ang, 1e-9, 1e-9, "turning angle");
}

BOOST_AUTO_TEST_CASE(helices_need_three_directions_and_summaries_average) {
  const int64_t n = 25;
  const at::Tensor f = frame(12, 3);
  const at::Tensor t = at::linspace(0, 4 * M_PI, n, at::kDouble).view({n, 1});
  const at::Tensor helix = t.cos() * f[0] + t.sin() * f[1] + 0.3 * t * f[2];
  const at::Tensor line = t * f[0];
  const at::Tensor x = at::stack({helix, line});
  const TrajectoryGeometry g = trajectory_geometry(x);
  BOOST_TEST(g.explained[1][0].item<double>() < 0.999);
  BOOST_TEST(std::abs(g.explained[2][0].item<double>() - 1.0) < 1e-12);
  GeometrySummary s;
  s.add(trajectory_geometry(x.slice(0, 0, 1)));
  s.add(trajectory_geometry(x.slice(0, 1, 2)));
  BOOST_TEST(s.count() == 2);
  for (int k = 1; k <= 3; ++k) {
    BOOST_TEST(std::abs(s.explained_mean(k) - g.explained[k - 1].mean().item<double>()) < 1e-12);
    BOOST_TEST(s.explained_min(k) == g.explained[k - 1].min().item<double>());
  }
  const std::vector<double> dev = s.deviation_mean();
  for (int64_t i = 0; i < n; ++i)
    BOOST_TEST(std::abs(dev[size_t(i)] - g.deviation.select(1, i).mean().item<double>()) < 1e-12);
}

BOOST_AUTO_TEST_SUITE_END()
