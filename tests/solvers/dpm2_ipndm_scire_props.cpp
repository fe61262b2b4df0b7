// Properties of dpm2, ipndm, ipndm_v and scire beyond the golden rows: NFE bookkeeping, the iPNDM_v
// weight defect (docs/solvers.md §0.4), SciRE's φ schedule (§2.4), dtype agreement and option errors.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "amed/solver_catalog.h"
#include "cases.h"
#include "core/error.h"
#include "solvers/ipndm.h"
#include "solvers/scire.h"
#include "solvers/solver.h"
#include "support/check.h"
#include "support/testbeds.h"

namespace dsx::test {
namespace {

using Opts = std::map<std::string, std::string>;

std::string error_of(const std::string& solver, const Opts& options, const std::vector<double>& sigmas) {
  auto g = gauss3();
  try {
    run_solver(solver, options, *g.model, g.x_T, sigmas);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void check_weights(const std::vector<double>& got, const std::vector<double>& want, double tol,
                   const std::string& what) {
  BOOST_REQUIRE_EQUAL(got.size(), want.size());
  for (size_t k = 0; k < got.size(); ++k)
    BOOST_CHECK_MESSAGE(std::abs(got[k] - want[k]) <= tol,
                        what << " c[" << k << "] = " << got[k] << ", want " << want[k]);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dpm2_ipndm_scire)

BOOST_AUTO_TEST_CASE(nfe_per_option) {
  struct Row {
    std::string solver;
    Opts options;
    int points;
    int64_t nfe;
  };
  const std::vector<Row> rows = {
      {"dpm2", {}, 11, 20},
      {"dpm2", {{"afs", "true"}}, 11, 19},
      {"dpm2", {{"r", "0.3"}}, 4, 6},
      {"ipndm", {}, 11, 10},
      {"ipndm", {{"afs", "true"}}, 11, 9},
      {"ipndm", {{"max_order", "1"}}, 5, 4},
      {"ipndm_v", {{"variant", "corrected"}}, 11, 10},
      {"ipndm_v", {{"afs", "true"}}, 11, 9},
      {"scire", {}, 11, 10},
      {"scire", {{"afs", "true"}, {"order", "3"}}, 11, 9},
      {"scire", {{"algorithm", "v2"}, {"lower_order_final", "false"}}, 11, 10},
      {"scire", {{"method", "singlestep_fixed"}}, 6, 10},
      {"scire", {{"method", "singlestep_fixed"}, {"order", "3"}}, 6, 15},
      {"scire", {{"method", "singlestep_fixed"}, {"order", "3"}, {"afs", "true"}}, 6, 14},
      {"scire", {{"method", "singlestep_fixed"}, {"order", "1"}}, 6, 5},
      {"scire", {{"method", "singlestep_agile"}}, 6, 9},                   // [2, 2, 2, 2, 1]
      {"scire", {{"method", "singlestep_agile"}, {"order", "3"}}, 6, 12},  // [3, 3, 3, 2, 1]
      {"scire", {{"method", "singlestep_agile"}, {"order", "3"}}, 3, 3},   // [2, 1]
  };
  auto g = gauss3();
  for (const auto& row : rows) {
    std::vector<double> sigmas = karras_grid(row.points);
    RunResult r = run_solver(row.solver, row.options, *g.model, g.x_T, sigmas);
    std::string opts;
    for (const auto& [k, v] : row.options) opts += k + "=" + v + " ";
    BOOST_TEST_CONTEXT(row.solver << " " << opts << "N=" << row.points) {
      BOOST_CHECK_EQUAL(r.nfe, row.nfe);
      BOOST_CHECK_EQUAL(r.expected_nfe, row.nfe);
      BOOST_CHECK(at::isfinite(r.x).all().item<bool>());
    }
  }
}

BOOST_AUTO_TEST_CASE(ipndm_v_weights_on_a_uniform_grid) {
  std::vector<double> uniform;
  for (int i = 0; i <= 8; ++i) uniform.push_back(10.0 - i);
  const std::vector<double> ab4 = {55.0 / 24, -59.0 / 24, 37.0 / 24, -9.0 / 24};
  // The faithful order-4 weights are diff-sampler's: [57, −65, 43, −11]/24 = [2.375, −2.7083, 1.7917, −0.4583].
  check_weights(ipndm_v_weights(uniform, 5, 4, AbVariant::Faithful), {2.375, -65.0 / 24, 43.0 / 24, -11.0 / 24}, 1e-12,
                "faithful order 4");
  check_weights(ipndm_v_weights(uniform, 5, 4, AbVariant::Corrected), ab4, 1e-12, "corrected order 4");
  check_weights(ipndm_weights(4), ab4, 1e-15, "iPNDM order 4");
  for (int order = 1; order <= 3; ++order) {
    check_weights(ipndm_v_weights(uniform, 5, order, AbVariant::Faithful), ipndm_weights(order), 1e-12,
                  "faithful order " + std::to_string(order));
    check_weights(ipndm_v_weights(uniform, 5, order, AbVariant::Corrected), ipndm_weights(order), 1e-12,
                  "corrected order " + std::to_string(order));
  }
}

BOOST_AUTO_TEST_CASE(ipndm_v_weights_on_a_karras_grid) {
  // Corrected weights integrate polynomials of degree < order exactly: Σ c_k u_k^m = 1/(m+1) with
  // u_k = (σ_{i−k} − σ_i)/(σ_{i+1} − σ_i). diff-sampler's order-3/4 weights fail this off uniform grids;
  // the order-4 ones even miss consistency (Σ c_k ≠ 1), which is why its global order is erratic (~1–2).
  const std::vector<double> g = karras_grid(11);
  for (int order = 2; order <= 4; ++order)
    for (int i = order - 1; i + 1 < int(g.size()); ++i) {
      auto moment = [&](const std::vector<double>& c, int m) {
        double s = 0;
        for (int k = 0; k < order; ++k) s += c[k] * std::pow((g[i - k] - g[i]) / (g[i + 1] - g[i]), m);
        return s;
      };
      auto c = ipndm_v_weights(g, i, order, AbVariant::Corrected);
      for (int m = 0; m < order; ++m)
        BOOST_CHECK_MESSAGE(std::abs(moment(c, m) - 1.0 / (m + 1)) < 1e-9,
                            "corrected order " << order << " interval " << i << " moment " << m);
    }
  // diff-sampler's order-4 weights on karras_grid(11), interval 5: Σc = 1.000544 and the first moment is off
  // by −0.00768, so the step is not even first-order consistent there (the defects shrink only as the
  // step ratios tend to 1, hence erratic global slopes).
  auto f4 = ipndm_v_weights(g, 5, 4, AbVariant::Faithful);
  double sum4 = 0, m1 = 0;
  for (int k = 0; k < 4; ++k) sum4 += f4[k], m1 += f4[k] * (g[5 - k] - g[5]) / (g[6] - g[5]);
  BOOST_TEST_MESSAGE("faithful order-4 weights, karras_grid(11) interval 5: sum " << sum4 << ", moment 1 " << m1);
  BOOST_CHECK_CLOSE(sum4, 1.0005437876, 1e-6);
  BOOST_CHECK_CLOSE(m1 - 0.5, -0.0076817613, 1e-5);
  auto f2 = ipndm_v_weights(g, 5, 2, AbVariant::Faithful), c2 = ipndm_v_weights(g, 5, 2, AbVariant::Corrected);
  check_weights(f2, c2, 1e-12, "order 2 (diff-sampler's AB2 is exact)");
}

BOOST_AUTO_TEST_CASE(ipndm_v_corrected_equals_ipndm_on_uniform_sigma_steps) {
  std::vector<double> sigmas;
  for (int i = 0; i <= 20; ++i) sigmas.push_back(80.0 - i * (80.0 - 0.002) / 20);
  auto g = gauss3();
  RunResult a = run_solver("ipndm", {}, *g.model, g.x_T, sigmas);
  RunResult b = run_solver("ipndm_v", {{"variant", "corrected"}}, *g.model, g.x_T, sigmas);
  check_close(b.x, a.x, 1e-11, 1e-12, "ipndm_v corrected vs ipndm, uniform σ grid");
}

BOOST_AUTO_TEST_CASE(scire_phi_series_and_schedule) {
  const std::vector<double> want = {0.666666666667, 0.625,          0.633333333333,
                                    0.631944444444, 0.632142857143, 0.632118055556};
  auto phi = scire_series_phi(1.0, 6);
  BOOST_REQUIRE_EQUAL(phi.size(), want.size());
  for (size_t j = 0; j < want.size(); ++j) BOOST_CHECK_SMALL(phi[j] - want[j], 5e-13);
  BOOST_CHECK_SMALL(scire_series_phi(1.0, 40).back() - (1 - std::exp(-1.0)), 1e-15);

  // Multistep, steps = 10, order 2 (phi = series_phi(1, 11)): warm-up step 1 → phi[1]; 2..4 → phi[1], phi[3],
  // phi[5]; step 5 = steps/2 → phi[−1]; 6..10 → phi[8], phi[6], phi[4], phi[2], phi[0].
  auto p11 = scire_series_phi(1.0, 11);
  const std::vector<int> idx = {1, 1, 3, 5, 10, 8, 6, 4, 2, 0};
  for (int step = 1; step <= 10; ++step)
    BOOST_CHECK_EQUAL(scire_multistep_phi(step, 10, 2), p11[size_t(idx[size_t(step - 1)])]);
  BOOST_CHECK_EQUAL(scire_multistep_phi(2, 10, 3), p11[3]);  // order-3 warm-up step 2
  // Singlestep K = 5: phi[0], phi[2], phi[−1] = phi[4], phi[3], phi[1]; the agile extra step j = K → phi[−1].
  auto p5 = scire_series_phi(1.0, 5);
  const std::vector<int> sidx = {0, 2, 4, 3, 1, 4};
  for (int j = 0; j <= 5; ++j) BOOST_CHECK_EQUAL(scire_singlestep_phi(j, 5), p5[size_t(sidx[size_t(j)])]);
}

BOOST_AUTO_TEST_CASE(float32_matches_float64) {
  const std::vector<std::pair<std::string, Opts>> runs = {
      {"dpm2", {}},
      {"dpm2", {{"r", "0.7"}}},
      {"ipndm", {}},
      {"ipndm_v", {}},
      {"ipndm_v", {{"variant", "corrected"}}},
      {"scire", {}},
      {"scire", {{"algorithm", "v2"}, {"order", "3"}}},
      {"scire", {{"method", "singlestep_fixed"}, {"order", "3"}, {"phi", "one"}}},
      {"scire", {{"algorithm", "v2"}, {"method", "singlestep_agile"}, {"order", "3"}}},
  };
  const std::vector<double> sigmas = f32(karras_grid(11));
  for (const auto& [name, options] : runs) {
    auto g64 = gauss3(), g32 = gauss3();
    g32.model->to(at::kFloat, at::kCPU);
    RunResult a = run_solver(name, options, *g64.model, g64.x_T, sigmas);
    RunResult b = run_solver(name, options, *g32.model, g32.x_T.to(at::kFloat), sigmas);
    BOOST_CHECK(b.x.scalar_type() == at::kFloat);
    check_close(b.x, a.x, 1e-5, 1e-5, name + " float32 vs float64");
  }
}

BOOST_AUTO_TEST_CASE(scire_v2_hook_reports_x_hat) {
  auto g = gauss3();
  auto solver = make_solver("scire", {{"algorithm", {"v2", "test"}}});
  std::vector<double> sigmas = nsr_grid(11);
  int calls = 0;
  at::Tensor last;
  SampleHooks hooks;
  hooks.on_step = [&](const StepEvent& e) {
    BOOST_CHECK_EQUAL(e.index, calls);
    BOOST_CHECK_EQUAL(e.sigma_to, sigmas[size_t(calls + 1)]);
    ++calls;
    last = e.x.clone();
  };
  at::Tensor x = solver->sample(*g.model, g.x_T, sigmas, hooks);
  BOOST_CHECK_EQUAL(calls, 10);
  check_close(last, x, 0, 1e-15, "last hook state");
}

// Two official toy rows whose RMSE (≈0.04–0.09) sits within float32 rounding of the official run: our
// float64 run differs from the official float32 number by 8.5e-7 on the first, so the golden table's 1e-5
// relative RMSE check (4e-7 here) cannot hold for any float32 port. Checked here at 3e-6 absolute.
BOOST_AUTO_TEST_CASE(toy_rows_within_float32_noise) {
  struct Row {
    std::string id;
    std::vector<double> sigmas;
    double rmse;
    int64_t nfe;
  };
  const std::vector<Row> rows = {
      {"docs/amed.md §12.3 unif1 ipndm4 N=6", time_uniform_float32(6, 1), 8.878850e-02, 5},
      {"docs/amed.md §12.3 poly7 ipndm4 N=4", f32(karras_grid(4)), 4.454250e-02, 3},
  };
  for (const auto& row : rows) {
    auto t = toy192();
    t.model->to(at::kFloat, at::kCPU);
    RunResult r = run_solver("ipndm", {}, *t.model, t.x_T.to(at::kFloat), row.sigmas);
    double e = rmse(r.x, t.model->ode_solution(t.x_T, row.sigmas.front(), row.sigmas.back()));
    BOOST_CHECK_EQUAL(r.nfe, row.nfe);
    BOOST_CHECK_MESSAGE(std::abs(e - row.rmse) <= 3e-6, row.id << ": rmse " << e << ", official " << row.rmse);
  }
}

BOOST_AUTO_TEST_CASE(bad_options_are_clear_errors) {
  const auto grid = karras_grid(11);
  std::string e = error_of("dpm2", {{"r", "1.5"}}, grid);
  BOOST_CHECK_MESSAGE(e.find("solver.r") != std::string::npos && e.find("(0, 1)") != std::string::npos, e);
  BOOST_CHECK(!error_of("dpm2", {{"r", "0"}}, grid).empty());
  BOOST_CHECK(!error_of("ipndm", {{"max_order", "5"}}, grid).empty());
  BOOST_CHECK(!error_of("ipndm_v", {{"variant", "exact"}}, grid).empty());
  for (const char* bad : {"0", "2.5", "-1", "two"}) {
    std::string m = error_of("scire", {{"phi", bad}}, grid);
    BOOST_CHECK_MESSAGE(m.find("solver.phi") != std::string::npos, "phi=" << bad << ": " << m);
  }
  BOOST_CHECK(error_of("scire", {{"phi", "2"}}, grid).empty());
  BOOST_CHECK(!error_of("scire", {{"order", "4"}}, grid).empty());
  BOOST_CHECK(!error_of("scire", {{"method", "adaptive"}}, grid).empty());
  // Multistep order 3 needs steps ≥ order, i.e. 4 grid points.
  std::string m = error_of("scire", {{"order", "3"}}, karras_grid(3));
  BOOST_CHECK_MESSAGE(m.find("at least 4 grid points") != std::string::npos, m);
  BOOST_CHECK(error_of("scire", {{"order", "3"}}, karras_grid(4)).empty());
  BOOST_CHECK(!error_of("scire", {{"order", "3"}, {"method", "singlestep_agile"}}, karras_grid(2)).empty());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
