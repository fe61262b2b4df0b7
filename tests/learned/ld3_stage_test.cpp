// The learn_schedule stage and the exact teacher through the real binary on the shipped mixture (float64),
// checked against recomputation from their inputs:
//   - the exact teacher's states are σ_max·noise(seed) and the model's exact ODE solution from there;
//   - schedule.json's validation error is the RMSE of the kept (decoupled) grid, sampled by the fused ipndm
//     loop through RetimedDenoiser, on the teacher's last `validation` trajectories; history.csv starts at the
//     starting grid's error;
//   - evaluate on `schedule: {kind: learned}` applies the model σ: its row is that recomputation on its seeds;
//   - bad settings fail at the spec's line with the reason.
#include <boost/test/unit_test.hpp>

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/noise.h"
#include "diffusion/schedule.h"
#include "learned/retimed_model.h"
#include "models/gaussian_mixture.h"
#include "store/h5.h"
#include "store/tensor_h5.h"
#include "support/check.h"
#include "support/scratch.h"
#include "support/testbeds.h"

namespace fs = std::filesystem;
using namespace dsx;

namespace {

const std::string kMixture = std::string(DSX_SOURCE_DIR) + "/data/gmm/mix8_3x8x8.h5";
constexpr int kSeeds = 40, kValidation = 12, kEvalSeeds = 16;

std::string spec_text(const std::string& ld3_extra, const std::string& teacher_extra = "") {
  return test::mixture_exact_teacher_spec("ld3_stage", kSeeds, teacher_extra) + fmt::format(R"(  ld3:
    kind: learn_schedule
    teacher: exact
    solver: {{name: ipndm}}
    nfe: 3
    iterations: 30
    batch: 8
    validation: {}
    validate_every: 5
    decoupled: true{}
  eval:
    kind: evaluate
    seeds: 1000-{}
    methods: [{{solver: {{name: ipndm}}, schedule: {{kind: learned, from: ld3}}}}]
  report: {{kind: report, inputs: [eval]}}
)",
                                                                                            kValidation, ld3_extra,
                                                                                            1000 + kEvalSeeds - 1);
}

test::Run run_spec(const test::TempDir& tmp, const std::string& text) {
  const std::string spec = tmp.file("ld3.yaml");
  std::ofstream(spec) << text;
  return test::run_dsx("run " + spec + " --cache-dir " + tmp.file("cache") + " --runs-dir " + tmp.file("runs"));
}

std::vector<int64_t> range(int64_t first, int64_t count) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < count; ++i) out.push_back(first + i);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(learn_schedule_stage)

BOOST_AUTO_TEST_CASE(stage_matches_recomputation, *boost::unit_test::timeout(300)) {
  test::TempDir tmp("dsx_ld3_stage");
  const test::Run r = run_spec(tmp, spec_text(""));
  BOOST_TEST_INFO(r.out);
  BOOST_REQUIRE_EQUAL(r.code, 0);
  auto model = GaussianMixture::load_h5(kMixture);

  // The exact teacher: x_T = σ_max·noise(seed), then the exact ODE solution.
  std::vector<at::Tensor> states, seeds;
  for (const auto& e : fs::recursive_directory_iterator(tmp.file("cache"))) {
    if (e.path().extension() != ".h5" || e.path().string().find("/teacher/") == std::string::npos) continue;
    h5::File f = h5::File::open(e.path().string());
    if (!f.has("states")) continue;
    states.push_back(h5::read_tensor(f, "states"));
    seeds.push_back(h5::read_tensor(f, "seeds", at::kLong));
  }
  BOOST_REQUIRE(!states.empty());
  const at::Tensor x = at::cat(states).index_select(0, at::cat(seeds).argsort());
  BOOST_REQUIRE_EQUAL(x.size(0), kSeeds);
  const at::Tensor x_T = 80.0 * seeded_noise(range(0, kSeeds), model->info().sample_shape, at::kDouble);
  test::check_close(x.select(1, 0), x_T, 0, 0, "teacher x_T");
  test::check_close(x.select(1, 1), model->ode_solution(x_T, 80.0, 0.002), 1e-12, 1e-12, "teacher end point");

  // The kept grid, scored by the fused sampler through the retimed model on the held-out trajectories.
  const auto js = nlohmann::json::parse(test::slurp(test::find_named(tmp.file("cache"), "schedule.json").at(0)));
  const auto sigmas = js["sigmas"].get<std::vector<double>>();
  const auto at_model = js["model_sigmas"].get<std::vector<double>>();
  BOOST_REQUIRE_EQUAL(sigmas.size(), 4u);  // ipndm at NFE 3
  BOOST_TEST(js["method"].get<std::string>() == "ld3");
  const std::vector<double> start = test::family_grid("polynomial", 4);
  BOOST_TEST(sigmas.front() == start.front());  // the end points are the starting family's, bit for bit
  BOOST_TEST(sigmas.back() == start.back());
  BOOST_TEST(at_model != sigmas);  // the shifts moved
  const RetimedDenoiser retimed(*model, sigmas, at_model);
  const at::Tensor held = x.slice(0, kSeeds - kValidation);
  const auto kept = test::run_solver("ipndm", {}, retimed, held.select(1, 0), sigmas);
  const double validation = js["info"]["validation_rmse"].get<double>();
  BOOST_TEST(std::abs(test::rmse(kept.x, held.select(1, 1)) - validation) < 1e-10);
  const auto init = test::run_solver("ipndm", {}, *model, held.select(1, 0), start);
  const double init_rmse = test::rmse(init.x, held.select(1, 1));
  BOOST_TEST(std::abs(js["info"]["init_validation_rmse"].get<double>() - init_rmse) < 1e-10);
  BOOST_TEST(validation < init_rmse);  // training improved on the starting grid
  const std::string history = test::slurp(test::find_named(tmp.file("cache"), "history.csv").at(0));
  BOOST_TEST(history.rfind("iteration,train_rmse,validation_rmse\n0,,", 0) == 0u);

  // Evaluate applies the learned model σ: its row is the same sampler on its own seeds.
  const at::Tensor eval_T = 80.0 * seeded_noise(range(1000, kEvalSeeds), model->info().sample_shape, at::kDouble);
  const auto eval = test::run_solver("ipndm", {}, retimed, eval_T, sigmas);
  const double want = test::rmse(eval.x, model->ode_solution(eval_T, 80.0, 0.002));
  const fs::path run = test::only_run_dir(tmp.file("runs"));
  const double got = test::csv_value(run / "metrics.csv", "eval,ipndm,,learned:ld3,3,,1,rmse_to_reference,");
  BOOST_TEST(!std::isnan(got), test::slurp(run / "metrics.csv"));
  BOOST_TEST(std::abs(got - want) < 1e-8 * want);
  BOOST_TEST(fs::exists(run / "ld3.schedule.yaml"));
}

BOOST_AUTO_TEST_CASE(bad_settings_fail_at_their_line, *boost::unit_test::timeout(120)) {
  struct Case {
    std::string ld3_extra, teacher_extra, expected;
  };
  const std::vector<Case> cases = {
      {"\n    init: {kind: polynomial, sigma_max: 40}", "", "must match"},
      {"", "\n    m: 2", "ld3.yaml:10:8: the exact teacher takes no refinement"},
      {"\n    max_shift: -1", "", "max_shift"},
  };
  for (const auto& c : cases) {
    test::TempDir tmp("dsx_ld3_bad");
    const test::Run r = run_spec(tmp, spec_text(c.ld3_extra, c.teacher_extra));
    BOOST_TEST_INFO(r.out);
    BOOST_TEST(r.code != 0);
    BOOST_TEST(r.out.find(c.expected) != std::string::npos, c.expected);
    BOOST_TEST(r.out.find("internal") == std::string::npos);
  }
  // A solver without a step-level form, and more held out than the teacher has.
  test::TempDir tmp("dsx_ld3_bad");
  std::string text = spec_text("");
  text.replace(text.find("solver: {name: ipndm}\n    nfe: 3"), 21, "solver: {name: heun}");
  test::Run r = run_spec(tmp, text);
  BOOST_TEST_INFO(r.out);
  BOOST_TEST(r.out.find("ld3.yaml:13:13: heun has no step-level form") != std::string::npos);
  r = run_spec(tmp, spec_text("").replace(spec_text("").find("validation: 12"), 14, "validation: 40"));
  BOOST_TEST_INFO(r.out);
  BOOST_TEST(r.out.find("cannot give validation = 40") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
