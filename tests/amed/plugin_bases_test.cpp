// AMED-Plugin on every base solver with a step form — the official four (euler, dpm2, ipndm, dpmpp) and
// dsx's consistent extension (ipndm_v, deis, scire, unipc) — against an independent truth: with the neutral
// predictor (zero weights: r = ½, c = a = 1) a plugin is its base solver on the grid refined by the
// geometric midpoints s_i = √(σ_i σ_{i+1}) (dpm2: its base with r = ½ on the grid itself). Option variants,
// AFS on and off, and a 2-point grid whose UniPC run ends on a corrected warm-up step (the plugin closes it
// with one more model call, as the base does).
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "amed/amed_solvers.h"
#include "amed/solver_catalog.h"
#include "amed/student.h"
#include "amed_common.h"
#include "solvers/solver.h"
#include "support/check.h"

namespace dsx::test {
namespace {

std::vector<double> geometric_refinement(const std::vector<double>& grid) {
  std::vector<double> out = {grid.front()};
  for (size_t i = 0; i + 1 < grid.size(); ++i) {
    out.push_back(std::sqrt(grid[i] * grid[i + 1]));
    out.push_back(grid[i + 1]);
  }
  return out;
}

struct Case {
  std::string solver;
  std::map<std::string, std::string> options;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"euler", {}},
      {"ipndm", {}},
      {"ipndm", {{"max_order", "2"}}},
      {"dpmpp", {}},
      {"dpmpp", {{"predict_x0", "false"}, {"max_order", "2"}}},
      {"ipndm_v", {}},
      {"ipndm_v", {{"variant", "corrected"}}},
      {"deis", {}},
      {"deis", {{"max_order", "4"}, {"quadrature", "exact"}}},
      {"scire", {}},
      {"scire", {{"algorithm", "v2"}, {"order", "3"}, {"phi", "one"}}},
      {"unipc", {}},
      {"unipc", {{"variant", "bh1"}, {"predict_x0", "false"}}},
      {"unipc", {{"max_order", "2"}, {"lower_order_final", "false"}, {"final_corrector", "never"}}},
  };
  return all;
}

std::map<std::string, RawOption> raw(std::map<std::string, std::string> o) {
  std::map<std::string, RawOption> r;
  for (const auto& [k, v] : o) r[k] = {v, "test"};
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(amed_plugin_bases)

BOOST_AUTO_TEST_CASE(every_step_base_is_a_plugin_base) {
  for (const SolverEntry& e : base_solver_entries()) {
    const bool stepped = bool(e.make(Options::resolve(all_option_specs(e), {}, ""))->step_run(3));
    BOOST_TEST_INFO(e.name);
    BOOST_TEST(is_amed_plugin_base(e.name) == (stepped || e.name == "dpm2"));
  }
  for (const char* name : {"ipndm_v", "deis", "scire", "unipc"}) BOOST_TEST(is_amed_plugin_base(name), name);
  BOOST_TEST(!is_amed_plugin_base("heun"));
}

BOOST_AUTO_TEST_CASE(neutral_plugin_is_the_base_on_the_refined_grid) {
  TempDir tmp;
  AmedPredictor net(0.01, 0.2);
  {
    at::NoGradGuard no_grad;
    for (auto& p : net->parameters()) p.zero_();
  }
  save_predictor(net, nullptr, tmp.file("neutral.h5"));
  auto toy = toy192();
  for (int points : {2, 3, 5})
    for (const Case& c : cases())
      for (bool afs : {false, true}) {
        BOOST_TEST_CONTEXT(c.solver << " " << c.options.size() << " options, " << points << " points, afs " << afs) {
          ScheduleSpec spec;
          spec.num_steps = points;
          const std::vector<double> grid = make_schedule(spec);
          auto opts = c.options;
          opts["afs"] = afs ? "true" : "false";
          const std::vector<double> fine = geometric_refinement(grid);
          if (int(fine.size()) < make_solver(c.solver, raw(opts))->min_points()) continue;  // scire order 3
          const RunResult base = run_solver(c.solver, opts, *toy.model, toy.x_T, fine);
          opts["amed.predictor"] = tmp.file("neutral.h5");
          opts["amed.features"] = "zero";
          const RunResult plugin = run_solver(c.solver, opts, *toy.model, toy.x_T, grid);
          check_close(plugin.x, base.x, 1e-11, 1e-11, "neutral plugin vs base on the refined grid");
          BOOST_TEST(plugin.nfe == base.nfe);
        }
      }
  // dpm2: the neutral two-stage plugin is DPM-Solver-2 with r = ½ on the grid itself.
  ScheduleSpec spec;
  spec.num_steps = 4;
  const std::vector<double> grid = make_schedule(spec);
  const RunResult base = run_solver("dpm2", {}, *toy.model, toy.x_T, grid);
  const RunResult plugin = run_solver("dpm2", {{"amed.predictor", tmp.file("neutral.h5")}, {"amed.features", "zero"}},
                                      *toy.model, toy.x_T, grid);
  check_close(plugin.x, base.x, 1e-11, 1e-11, "neutral dpm2 plugin");
}

BOOST_AUTO_TEST_CASE(a_plugin_on_another_base_keeps_its_options_in_the_file) {
  // A predictor trained for unipc bh1 refuses unipc bh2; the settings carry every option of the base.
  TempDir tmp;
  AmedPredictor net = deterministic_predictor();
  AmedSettings s;
  s.student = "unipc";
  s.schedule.num_steps = 4;
  s.afs = true;
  const SolverEntry& e = solver_entry("unipc");
  s.base_options = base_option_text(e, Options::resolve(all_option_specs(e), raw({{"variant", "bh1"}}), ""));
  BOOST_TEST(s.base_options.find("variant=bh1") != std::string::npos, s.base_options);
  save_predictor(net, &s, tmp.file("p.h5"));
  BOOST_TEST(load_predictor(tmp.file("p.h5")).settings->base_options == s.base_options);
  ScheduleSpec spec;
  spec.num_steps = 4;
  auto toy = toy192();
  const RunResult ok = run_solver(
      "unipc", {{"afs", "true"}, {"variant", "bh1"}, {"amed.predictor", tmp.file("p.h5")}, {"amed.features", "zero"}},
      *toy.model, toy.x_T, make_schedule(spec));
  BOOST_TEST(ok.nfe == 5);
  const std::string err = error_of([&] {
    make_solver("unipc", raw({{"afs", "true"}, {"variant", "bh2"}, {"amed.predictor", tmp.file("p.h5")}}));
  });
  BOOST_TEST(err.find("variant=bh1") != std::string::npos, err);
  BOOST_TEST(err.find("variant=bh2") != std::string::npos, err);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
