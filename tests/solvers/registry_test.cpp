// Properties every registered solver must have, whatever its family: NFE equals its rule (with and
// without AFS), float32 agrees with float64, the run is deterministic and bad input is a clear error.
#include <boost/test/unit_test.hpp>

#include "amed/solver_catalog.h"
#include "core/error.h"
#include "diffusion/schedule.h"
#include "solvers/solver.h"
#include "support/check.h"
#include "support/scratch.h"
#include "support/testbeds.h"

namespace dsx::test {
namespace {

const auto error_of = error_message;

std::vector<double> poly(int n) {
  ScheduleSpec s;
  s.num_steps = n;
  return make_schedule(s);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(registry)

BOOST_AUTO_TEST_CASE(every_solver_counts_nfe_by_its_rule) {
  auto g = gauss3();
  for (const auto& e : solver_entries()) {
    if (e.needs_file) continue;  // built with a file in its own suite (tests/amed)
    for (const char* afs : {"false", "true"}) {
      auto solver = make_solver(e.name, {{"afs", {afs, "test"}}});
      for (int n = std::max(2, solver->min_points()); n <= 9; ++n) {
        BOOST_TEST_CONTEXT(e.name << " afs=" << afs << " N=" << n) {
          RunResult r = run_solver(e.name, {{"afs", afs}}, *g.model, g.x_T, poly(n));
          BOOST_TEST(r.nfe == r.expected_nfe);
          BOOST_TEST(at::isfinite(r.x).all().item<bool>());
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(afs_saves_exactly_one_call) {
  auto g = gauss3();
  for (const auto& e : solver_entries()) {
    if (e.needs_file) continue;  // built with a file in its own suite (tests/amed)
    auto plain = make_solver(e.name, {});
    auto afs = make_solver(e.name, {{"afs", {"true", "test"}}});
    BOOST_TEST_CONTEXT(e.name) { BOOST_TEST(afs->expected_nfe(8) == plain->expected_nfe(8) - 1); }
  }
}

// Solvers write updates in place into buffers only they hold: states a hook keeps (without copying) and the
// caller's x_T are never overwritten, and the result is the same as when nobody holds anything.
BOOST_AUTO_TEST_CASE(states_others_hold_are_never_overwritten) {
  auto g = gauss3();
  const std::vector<double> sigmas = poly(7);
  for (const auto& e : solver_entries()) {
    if (e.needs_file) continue;  // built with a file in its own suite (tests/amed)
    for (const char* afs : {"false", "true"}) {
      BOOST_TEST_CONTEXT(e.name << " afs=" << afs) {
        auto solver = make_solver(e.name, {{"afs", {afs, "test"}}});
        const at::Tensor x_T = g.x_T.clone(), x_T_copy = g.x_T.clone();
        std::vector<at::Tensor> kept, copies;
        SampleHooks hooks;
        hooks.on_step = [&](const StepEvent& ev) {
          kept.push_back(ev.x);
          copies.push_back(ev.x.clone());
        };
        const at::Tensor held = solver->sample(*g.model, x_T, sigmas, hooks);
        BOOST_TEST(at::equal(x_T, x_T_copy));
        BOOST_REQUIRE_EQUAL(kept.size(), copies.size());
        for (size_t i = 0; i < kept.size(); ++i) BOOST_TEST(at::equal(kept[i], copies[i]), "step " << i);
        const at::Tensor alone = solver->sample(*g.model, g.x_T.clone(), sigmas, {});
        BOOST_TEST(at::equal(held, alone));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(float32_agrees_with_float64) {
  auto t = toy192();
  std::vector<double> sigmas = poly(8);
  for (const auto& e : solver_entries()) {
    if (e.needs_file) continue;  // built with a file in its own suite (tests/amed)
    BOOST_TEST_CONTEXT(e.name) {
      t.model->to(at::kDouble, at::kCPU);
      RunResult r64 = run_solver(e.name, {}, *t.model, t.x_T, sigmas);
      t.model->to(at::kFloat, at::kCPU);
      RunResult r32 = run_solver(e.name, {}, *t.model, t.x_T.to(at::kFloat), sigmas);
      BOOST_TEST(r32.x.scalar_type() == at::kFloat);
      // float32 carries ~1e-7 relative per operation; the states start at |x| ~ 100.
      check_close(r32.x, r64.x, 1e-4, 1e-4, e.name + " float32 vs float64");
      RunResult again = run_solver(e.name, {}, *t.model, t.x_T.to(at::kFloat), sigmas);
      BOOST_TEST(at::equal(again.x, r32.x));
    }
  }
}

BOOST_AUTO_TEST_CASE(thresholding_changes_data_outside_unit_range_only) {
  // Data far outside [-1, 1]: dynamic thresholding (s = max(q, 1)) must change every solver's result.
  DiagonalGaussian model(at::tensor({2.0, -3.0, 0.5, 1.5}, at::kDouble), at::tensor({0.3, 0.5, 0.2, 0.4}, at::kDouble));
  at::Tensor x_T = 80.0 * at::tensor({1.0, -0.5, 0.25, 0.7}, at::kDouble).reshape({1, 4});
  std::vector<double> sigmas = poly(6);
  for (const auto& e : solver_entries()) {
    if (e.needs_file) continue;  // built with a file in its own suite (tests/amed)
    BOOST_TEST_CONTEXT(e.name) {
      RunResult off = run_solver(e.name, {}, model, x_T, sigmas);
      RunResult on = run_solver(e.name, {{"thresholding", "dynamic"}}, model, x_T, sigmas);
      BOOST_TEST((off.x - on.x).abs().max().item<double>() > 0.1);
      BOOST_TEST(on.nfe == off.nfe);
    }
  }
  // On data inside [-1, 1], thresholding with s = max(q, 1) = 1 only clamps: D already in range is unchanged.
  at::Tensor d = at::tensor({0.5, -0.9, 0.99, 0.1}, at::kDouble).reshape({1, 4});
  BOOST_TEST(at::equal(dynamic_threshold(d), d));
  at::Tensor big = at::tensor({4.0, -2.0, 1.0, 0.5}, at::kDouble).reshape({1, 4});
  at::Tensor th = dynamic_threshold(big);
  BOOST_TEST(th.abs().max().item<double>() <= 1.0);
}

BOOST_AUTO_TEST_CASE(bad_names_options_and_grids) {
  const std::string unknown = error_of([] { make_solver("dpmpp3", {}); });
  BOOST_TEST(unknown.rfind("solver.name = 'dpmpp3' is unknown", 0) == 0u, unknown);
  BOOST_TEST(unknown.find("; known: euler, heun, ") != std::string::npos, unknown);
  BOOST_TEST(error_of([] { make_solver("eulr", {}); }).find("did you mean 'euler'") != std::string::npos);
  for (const auto& e : solver_entries()) {
    BOOST_TEST_CONTEXT(e.name) {
      std::string msg = error_of([&] { make_solver(e.name, {{"no_such_option", {"1", "spec.yaml:3:5"}}}); });
      BOOST_TEST(msg.find("spec.yaml:3:5") != std::string::npos);
      BOOST_TEST(msg.find("unknown option 'solver.no_such_option'") != std::string::npos);
      BOOST_TEST(error_of([&] {
                   make_solver(e.name, {{"afs", {"sometimes", "x"}}});
                 }).find("true or false") != std::string::npos);
      if (e.needs_file) continue;
      auto solver = make_solver(e.name, {});
      BOOST_TEST(error_of([&] { check_grid(*solver, {80.0}, e.name); }).find("at least 2") != std::string::npos);
      BOOST_TEST(error_of([&] {
                   check_grid(*solver, {80.0, 1.0, 1.0}, e.name);
                 }).find("strictly decreasing") != std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
