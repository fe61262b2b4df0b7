// Properties of the dpmpp, unipc and deis entries beyond the golden rows: NFE per option, the effect of
// thresholding and lower_order_final, dtype agreement, option errors, and DEIS coefficients.
#include <boost/test/unit_test.hpp>

#include "amed/solver_catalog.h"
#include "cases.h"
#include "core/error.h"
#include "solvers/deis.h"
#include "solvers/solver.h"
#include "support/check.h"
#include "support/testbeds.h"

namespace dsx::test {
namespace {

using Opts = std::map<std::string, std::string>;

struct Config {
  std::string solver;
  Opts options;
};

// One configuration per code path of the three families.
std::vector<Config> configs() {
  std::vector<Config> c;
  for (std::string order : {"1", "2", "3"})
    for (std::string x0 : {"true", "false"})
      for (std::string lof : {"true", "false"})
        c.push_back({"dpmpp", {{"max_order", order}, {"predict_x0", x0}, {"lower_order_final", lof}}});
  c.push_back({"dpmpp", {{"variant", "corrected"}}});
  for (std::string order : {"1", "2", "3"})
    for (std::string variant : {"bh1", "bh2"})
      for (std::string x0 : {"true", "false"})
        c.push_back({"unipc", {{"max_order", order}, {"variant", variant}, {"predict_x0", x0}}});
  c.push_back({"unipc", {{"lower_order_final", "false"}}});
  for (std::string order : {"1", "2", "3", "4"})
    for (std::string q : {"faithful", "exact"}) c.push_back({"deis", {{"max_order", order}, {"quadrature", q}}});
  c.push_back({"deis", {{"vp_fit", "grid"}}});
  return c;
}

std::string describe(const Config& c) {
  std::string s = c.solver;
  for (const auto& [k, v] : c.options) s += " " + k + "=" + v;
  return s;
}

std::string error_of(const std::string& solver, const Opts& options) {
  std::map<std::string, RawOption> raw;
  for (const auto& [k, v] : options) raw[k] = {v, "test"};
  try {
    make_solver(solver, raw);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(dpmpp_unipc_deis)

BOOST_AUTO_TEST_CASE(nfe_is_n_minus_one_and_afs_saves_one) {
  auto g = gauss3();
  for (int n : {2, 3, 4, 11}) {
    const auto sigmas = karras_grid(n);
    for (auto c : configs()) {
      for (std::string afs : {"false", "true"}) {
        c.options["afs"] = afs;
        BOOST_TEST_CONTEXT(describe(c) << " N=" << n) {
          RunResult r = run_solver(c.solver, c.options, *g.model, g.x_T, sigmas);
          BOOST_CHECK_EQUAL(r.nfe, r.expected_nfe);
          // UniPC, as diff-sampler, also corrects a last step that is still a warm-up step (n − 1 < max_order):
          // one call more (unipc_corrects_a_final_warmup_step below).
          const int max_order = c.options.count("max_order") ? std::stoi(c.options.at("max_order")) : 3;
          const int extra = c.solver == "unipc" && n - 1 < max_order ? 1 : 0;
          BOOST_CHECK_EQUAL(r.nfe, (n - 1) + extra - (afs == "true" ? 1 : 0));
          BOOST_CHECK(at::isfinite(r.x).all().item<bool>());
        }
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(unipc_corrects_a_final_warmup_step) {
  // diff-sampler unipc_sampler: step i with i+1 < max_order is a warm-up step and always runs the corrector,
  // the last step included; so N = 3 with max_order 3 (steps 0, 1 both warm-up) costs 1 + 2 = 3 calls, one
  // more than N−1 (docs/amed.md §4 "UniPC"). final_corrector=never keeps N−1.
  auto g = gauss3();
  const std::vector<double> sigmas = {80.0, 2.0, 0.002};
  for (std::string x0 : {"true", "false"}) {
    BOOST_TEST_CONTEXT("predict_x0=" << x0) {
      Opts official = {{"max_order", "3"}, {"predict_x0", x0}};
      Opts never = official;
      never["final_corrector"] = "never";
      RunResult a = run_solver("unipc", official, *g.model, g.x_T, sigmas);
      RunResult b = run_solver("unipc", never, *g.model, g.x_T, sigmas);
      BOOST_CHECK_EQUAL(a.nfe, 3);
      BOOST_CHECK_EQUAL(a.expected_nfe, 3);
      BOOST_CHECK_EQUAL(b.nfe, 2);
      BOOST_CHECK_EQUAL(b.expected_nfe, 2);
      Opts afs = official;
      afs["afs"] = "true";
      BOOST_CHECK_EQUAL(run_solver("unipc", afs, *g.model, g.x_T, sigmas).nfe, 2);
      // The corrected last step is a different result (not necessarily closer on a grid this coarse).
      BOOST_CHECK_GT((a.x - b.x).abs().max().item<double>(), 1e-6);
      BOOST_CHECK(at::isfinite(a.x).all().item<bool>());
    }
  }
  // Once the grid has max_order intervals the last step is not a warm-up step: N−1 either way.
  for (std::string fc : {"warmup", "never"}) {
    RunResult r = run_solver("unipc", {{"max_order", "3"}, {"final_corrector", fc}}, *g.model, g.x_T, karras_grid(4));
    BOOST_CHECK_EQUAL(r.nfe, 3);
    BOOST_CHECK_EQUAL(r.expected_nfe, 3);
  }
  // max_order 2 on one interval: the only step is a warm-up step.
  BOOST_CHECK_EQUAL(run_solver("unipc", {{"max_order", "2"}}, *g.model, g.x_T, karras_grid(2)).nfe, 2);
  BOOST_CHECK_EQUAL(run_solver("unipc", {{"max_order", "1"}}, *g.model, g.x_T, karras_grid(2)).nfe, 1);
}

BOOST_AUTO_TEST_CASE(thresholding_changes_data_outside_unit_range) {
  // toy192 data predictions exceed |1| at low σ, so Imagen thresholding must change every solver's output,
  // and in data-prediction mode it must move it away from the exact solution (docs/solvers.md finding 5).
  // (On a coarse grid the solver's own error can mask that, so "worse" is checked on a fine one.)
  auto t = toy192();
  for (int n : {8, 41}) {
    const auto sigmas = logsnr_grid(n);
    at::Tensor exact = t.model->ode_solution(t.x_T, sigmas.front(), sigmas.back());
    for (const Config& base :
         std::vector<Config>{{"dpmpp", {}}, {"dpmpp", {{"predict_x0", "false"}}}, {"unipc", {}}, {"deis", {}}}) {
      BOOST_TEST_CONTEXT(describe(base) << " N=" << n) {
        Opts on = base.options;
        on["thresholding"] = "dynamic";
        at::Tensor a = run_solver(base.solver, base.options, *t.model, t.x_T, sigmas).x;
        at::Tensor b = run_solver(base.solver, on, *t.model, t.x_T, sigmas).x;
        BOOST_CHECK_GT((a - b).abs().max().item<double>(), 1e-2);
        if (n == 41 && base.options.count("predict_x0") == 0) BOOST_CHECK_GT(rmse(b, exact), 10 * rmse(a, exact));
      }
    }
  }
  // Predictions inside [−1, 1] are left alone (s = max(q, 1) = 1, the clamp is a no-op): gauss3 from
  // x_T/100 keeps |D| ≤ 1 on this grid.
  auto g = gauss3();
  std::vector<double> coarse = {80.0, 20.0, 5.0, 1.0};
  at::Tensor a = run_solver("dpmpp", {}, *g.model, g.x_T * 0.01, coarse).x;
  at::Tensor b = run_solver("dpmpp", {{"thresholding", "dynamic"}}, *g.model, g.x_T * 0.01, coarse).x;
  BOOST_CHECK_LT((a - b).abs().max().item<double>(), 1e-15);
}

BOOST_AUTO_TEST_CASE(lower_order_final_changes_the_result) {
  auto g = gauss3();
  const auto sigmas = karras_grid(11);
  for (const Config& base : std::vector<Config>{{"dpmpp", {{"max_order", "2"}}},
                                                {"dpmpp", {{"max_order", "3"}, {"predict_x0", "false"}}},
                                                {"unipc", {{"max_order", "2"}}},
                                                {"unipc", {{"max_order", "3"}, {"variant", "bh1"}}}}) {
    BOOST_TEST_CONTEXT(describe(base)) {
      Opts off = base.options;
      off["lower_order_final"] = "false";
      at::Tensor a = run_solver(base.solver, base.options, *g.model, g.x_T, sigmas).x;
      at::Tensor b = run_solver(base.solver, off, *g.model, g.x_T, sigmas).x;
      BOOST_CHECK_GT((a - b).abs().max().item<double>(), 1e-4);
    }
  }
  // Order 1 has nothing to lower.
  at::Tensor a = run_solver("dpmpp", {{"max_order", "1"}}, *g.model, g.x_T, sigmas).x;
  at::Tensor b = run_solver("dpmpp", {{"max_order", "1"}, {"lower_order_final", "false"}}, *g.model, g.x_T, sigmas).x;
  BOOST_CHECK(at::equal(a, b));
}

BOOST_AUTO_TEST_CASE(float32_and_float64_agree) {
  auto t64 = toy192();
  auto t32 = toy192();
  t32.model->to(at::kFloat, at::kCPU);
  const auto sigmas = karras_grid(11);
  for (auto c : configs()) {
    BOOST_TEST_CONTEXT(describe(c)) {
      at::Tensor a = run_solver(c.solver, c.options, *t64.model, t64.x_T, sigmas).x;
      at::Tensor b = run_solver(c.solver, c.options, *t32.model, t64.x_T.to(at::kFloat), sigmas).x;
      BOOST_CHECK(b.scalar_type() == at::kFloat);
      // Relative to the output scale: float32 round-off of the O(80) start, contracted along the ODE. The
      // noise-form updates x − t·φ1·ε lose more (measured up to 1.6e-5 for UniPC-3 eps) than the data form.
      const double scale = a.abs().max().item<double>();
      const double rtol = c.options.count("predict_x0") && c.options.at("predict_x0") == "false" ? 3e-5 : 1e-5;
      BOOST_CHECK_LE((a - b.to(at::kDouble)).abs().max().item<double>(), rtol * scale);
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_options_name_the_option_and_the_allowed_values) {
  struct Bad {
    std::string solver;
    Opts options;
    std::vector<std::string> needles;
  };
  const std::vector<Bad> bad = {
      {"dpmpp", {{"max_order", "4"}}, {"solver.max_order", "'4'", "[1, 3]"}},
      {"dpmpp", {{"max_order", "0"}}, {"solver.max_order", "[1, 3]"}},
      {"dpmpp", {{"variant", "fixed"}}, {"solver.variant", "faithful", "corrected"}},
      {"dpmpp", {{"predict_x0", "maybe"}}, {"solver.predict_x0", "true or false"}},
      {"unipc", {{"max_order", "4"}}, {"solver.max_order", "[1, 3]"}},
      {"unipc", {{"variant", "bh3"}}, {"solver.variant", "bh1", "bh2"}},
      {"unipc", {{"order", "2"}}, {"solver.order", "max_order"}},
      {"unipc", {{"final_corrector", "always"}}, {"solver.final_corrector", "warmup", "never"}},
      {"deis", {{"max_order", "5"}}, {"solver.max_order", "[1, 4]"}},
      {"deis", {{"mode", "rhoab"}}, {"solver.mode", "tab"}},
      {"deis", {{"quadrature", "simpson"}}, {"solver.quadrature", "faithful", "exact"}},
      {"deis", {{"thresholding", "static"}}, {"solver.thresholding", "none", "dynamic"}},
  };
  for (const auto& b : bad) {
    const std::string msg = error_of(b.solver, b.options);
    BOOST_TEST_CONTEXT(b.solver << ": " << msg) {
      BOOST_CHECK(!msg.empty());
      for (const auto& needle : b.needles) BOOST_CHECK_MESSAGE(msg.find(needle) != std::string::npos, needle);
    }
  }
  for (const auto& c : configs()) BOOST_CHECK_MESSAGE(error_of(c.solver, c.options).empty(), describe(c));
}

BOOST_AUTO_TEST_CASE(deis_coefficients_match_diff_sampler) {
  // docs/amed.md §4 "DEIS-tAB": diff-sampler's float32 coefficients on unif2 N=6.
  const auto sigmas = time_uniform_float32(6, 2);
  const std::vector<std::vector<double>> c3 = {{},
                                               {-6.097571, 1.365042},
                                               {-1.533017, 0.691383, -0.162342},
                                               {-0.601325, 0.248664, -0.052999},
                                               {-0.192226, 0.052859, -0.008972}};
  const std::vector<std::vector<double>> c4_tail = {{-0.650824, 0.361492, -0.137808, 0.021479},
                                                    {-0.200821, 0.070492, -0.020679, 0.002669}};
  auto got3 = deis_tab_coefficients(sigmas, 3, DeisQuadrature::Riemann);
  auto got4 = deis_tab_coefficients(sigmas, 4, DeisQuadrature::Riemann);
  BOOST_REQUIRE_EQUAL(got3.size(), c3.size());
  for (size_t i = 0; i < c3.size(); ++i) {
    BOOST_REQUIRE_EQUAL(got3[i].size(), c3[i].size());
    for (size_t j = 0; j < c3[i].size(); ++j)
      BOOST_CHECK_MESSAGE(std::abs(got3[i][j] - c3[i][j]) <= 2e-5 * std::abs(c3[i][j]) + 2e-6,
                          "C3[" << i << "][" << j << "] = " << got3[i][j] << ", official " << c3[i][j]);
  }
  for (size_t i = 0; i < 3; ++i) BOOST_CHECK(got4[i] == got3[i]);  // identical until step 3
  for (size_t i = 0; i < 2; ++i)
    for (size_t j = 0; j < 4; ++j)
      BOOST_CHECK_MESSAGE(std::abs(got4[3 + i][j] - c4_tail[i][j]) <= 2e-5 * std::abs(c4_tail[i][j]) + 2e-6,
                          "C4[" << 3 + i << "][" << j << "] = " << got4[3 + i][j] << ", official " << c4_tail[i][j]);
}

BOOST_AUTO_TEST_CASE(deis_quadratures_and_consistency) {
  // Σ_j C_ij = ∫ dσ̂ = σ_{i+1} − σ_i (the Lagrange basis sums to 1), exactly for Gauss–Legendre. diff-sampler's
  // endpoint-inclusive sum times Δ/N is close to a trapezoid rule (bias O(1/N²) + O(Δ f'/N)): measured
  // ≤ 4.3e-5 relative on unif2 N=6, rather than the ~1e-4 docs/solvers.md §3.7 quotes for the JAX sum.
  for (const auto& sigmas : {karras_grid(11), logsnr_grid(21), time_uniform_float32(6, 2)}) {
    auto exact = deis_tab_coefficients(sigmas, 4, DeisQuadrature::GaussLegendre);
    auto riemann = deis_tab_coefficients(sigmas, 4, DeisQuadrature::Riemann);
    for (size_t i = 1; i < exact.size(); ++i) {
      double sum = 0, dev = 0, mag = 0;
      for (size_t j = 0; j < exact[i].size(); ++j) {
        sum += exact[i][j];
        dev = std::max(dev, std::abs(riemann[i][j] - exact[i][j]));
        mag = std::max(mag, std::abs(exact[i][j]));
      }
      const double ds = sigmas[i + 1] - sigmas[i];
      BOOST_CHECK_MESSAGE(std::abs(sum - ds) <= 1e-12 * std::abs(ds),
                          "step " << i << ": Σ C = " << sum << " vs " << ds);
      BOOST_CHECK_MESSAGE(dev <= 1e-4 * mag, "step " << i << ": Riemann − exact = " << dev << " (|C| " << mag << ")");
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
