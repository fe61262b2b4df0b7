// EPD (learned/epd.h) against independent truths:
//   - neutral logits (r = ½, w = 1/K, c = a = 1) are DPM-Solver-2's fused loop (solvers/dpm2.cpp, a separate
//     implementation) on the same grid, for every K and with AFS;
//   - a counting wrapper sees exactly (P − 1)(1 + K) − afs calls, the solver's expected_nfe;
//   - autograd gradients w.r.t. the four logit tables equal central differences;
//   - epd.h5 round-trips; a file that is not one is refused naming the file;
//   - the stage through the binary: evaluate's row is the saved solver recomputed on its seeds, at the total
//     model calls, with the sequential rounds in its options; an NFE that no step count gives is an error.
#include <boost/test/unit_test.hpp>

#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "amed/solver_catalog.h"
#include "core/noise.h"
#include "diffusion/schedule.h"
#include "learned/epd.h"
#include "models/gaussian_mixture.h"
#include "store/h5.h"
#include "support/check.h"
#include "support/scratch.h"
#include "support/testbeds.h"

namespace fs = std::filesystem;
using namespace dsx;

namespace {

EpdParams random_epd(const std::vector<double>& sigmas, int64_t k, bool afs) {
  EpdParams p = neutral_epd(sigmas, k, afs);
  const int64_t steps = p.steps();
  int i = 0;
  for (at::Tensor* t : {&p.r, &p.w, &p.c, &p.a}) {
    *t = at::sin(at::arange(steps * k, at::kDouble).reshape({steps, k}) * 1.7 + 0.9 * i++) * 0.8;
  }
  return p;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(epd)

BOOST_AUTO_TEST_CASE(neutral_epd_is_dpm2) {
  const test::Toy192 toy = test::toy192();
  const std::vector<double> grid = test::family_grid("polynomial", 5);
  for (const bool afs : {false, true})
    for (const int64_t k : {1, 2, 3}) {
      const at::Tensor x = epd_sample(*toy.model, toy.x_T, neutral_epd(grid, k, afs));
      const auto dpm2 = test::run_solver("dpm2", {{"afs", afs ? "true" : "false"}}, *toy.model, toy.x_T, grid);
      test::check_close(x, dpm2.x, 1e-10, 1e-10, fmt::format("k = {}, afs = {}", k, afs));
    }
  // Trained-looking values move it away from DPM-Solver-2.
  const at::Tensor moved = epd_sample(*toy.model, toy.x_T, random_epd(grid, 2, false));
  BOOST_TEST(test::rmse(moved, test::run_solver("dpm2", {}, *toy.model, toy.x_T, grid).x) > 1e-3);
}

BOOST_AUTO_TEST_CASE(counts_every_model_call) {
  const test::Toy192 toy = test::toy192();
  const std::vector<double> grid = test::family_grid("polynomial", 4);
  test::TempDir tmp("dsx_epd");
  for (const bool afs : {false, true})
    for (const int64_t k : {1, 2, 3}) {
      const EpdParams p = random_epd(grid, k, afs);
      BOOST_TEST(p.total_nfe() == 3 * (1 + k) - (afs ? 1 : 0));
      BOOST_TEST(p.sequential_nfe() == 6 - (afs ? 1 : 0));
      save_epd(tmp.file("p.h5"), p);
      const auto solver =
          make_solver("epd", {{"epd.params", {tmp.file("p.h5"), "test"}}, {"afs", {afs ? "true" : "false", "test"}}});
      CountingDenoiser counted(*toy.model);
      const at::Tensor x = solver->sample(counted, toy.x_T, grid);
      BOOST_TEST(counted.nfe() == p.total_nfe());
      BOOST_TEST(solver->expected_nfe(int(grid.size())) == p.total_nfe());
      test::check_close(x, epd_sample(*toy.model, toy.x_T, p), 0, 0, "solver = epd_sample");
    }
}

BOOST_AUTO_TEST_CASE(gradient_equals_finite_differences) {
  const test::Toy192 toy = test::toy192();
  const std::vector<double> grid = test::family_grid("polynomial", 4);
  const at::Tensor target = toy.model->ode_solution(toy.x_T, 80.0, 0.002);
  const EpdParams base = random_epd(grid, 2, true);
  auto loss = [&](const EpdParams& p) { return (epd_sample(*toy.model, toy.x_T, p) - target).square().mean(); };
  EpdParams p = base;
  for (at::Tensor* t : {&p.r, &p.w, &p.c, &p.a}) *t = t->clone().set_requires_grad(true);
  loss(p).backward();
  const double h = 1e-6;
  const char* names[] = {"r", "w", "c", "a"};
  for (int which = 0; which < 4; ++which)
    for (int64_t n = 0; n < base.steps(); ++n)
      for (int64_t j = 0; j < 2; ++j) {
        EpdParams up = base, down = base;
        at::Tensor* tu = std::vector<at::Tensor*>{&up.r, &up.w, &up.c, &up.a}[size_t(which)];
        at::Tensor* td = std::vector<at::Tensor*>{&down.r, &down.w, &down.c, &down.a}[size_t(which)];
        *tu = tu->clone();
        *td = td->clone();
        (*tu)[n][j] += h;
        (*td)[n][j] -= h;
        const double fd = (loss(up).item<double>() - loss(down).item<double>()) / (2 * h);
        const double got = p.tensors()[size_t(which)].grad()[n][j].item<double>();
        BOOST_TEST(std::abs(got - fd) <= 1e-5 * std::abs(fd) + 1e-10,
                   names[which] << "[" << n << "][" << j << "]: autograd " << got << ", FD " << fd);
      }
}

BOOST_AUTO_TEST_CASE(file_round_trip_and_errors) {
  test::TempDir tmp("dsx_epd");
  const std::vector<double> grid = test::family_grid("time_uniform", 4, 1.0);
  EpdParams p = random_epd(grid, 2, true);
  p.schedule = "time_uniform";
  save_epd(tmp.file("p.h5"), p);
  const EpdParams q = load_epd(tmp.file("p.h5"));
  BOOST_TEST(q.sigmas == p.sigmas, boost::test_tools::per_element());
  BOOST_TEST(q.afs);
  BOOST_TEST(q.schedule == "time_uniform");
  for (size_t i = 0; i < 4; ++i) test::check_close(q.tensors()[i], p.tensors()[i], 0, 0, "logits");
  h5::File::create(tmp.file("other.h5")).set_attr("method", std::string("amed"));
  const std::string msg = test::error_message([&] { load_epd(tmp.file("other.h5")); });
  BOOST_TEST(msg.find(tmp.file("other.h5")) != std::string::npos, msg);
  BOOST_TEST(msg.find("not an EPD parameter file") != std::string::npos, msg);
  // The solver samples its own grid only, with its own afs.
  const auto solver = make_solver("epd", {{"epd.params", {tmp.file("p.h5"), "test"}}, {"afs", {"true", "test"}}});
  const test::Toy192 toy = test::toy192();
  const std::string wrong =
      test::error_message([&] { solver->sample(*toy.model, toy.x_T, test::family_grid("polynomial", 4)); });
  BOOST_TEST(wrong.find("own 4-point grid") != std::string::npos, wrong);
  const std::string afs = test::error_message([&] {
    make_solver("epd", {{"epd.params", {tmp.file("p.h5"), "test"}}});
  });
  BOOST_TEST(afs.find("set solver.afs: true") != std::string::npos, afs);
}

BOOST_AUTO_TEST_CASE(stage_matches_recomputation, *boost::unit_test::timeout(300)) {
  const std::string mixture = std::string(DSX_SOURCE_DIR) + "/data/gmm/mix8_3x8x8.h5";
  auto spec = [&](int64_t nfe) {
    return test::mixture_exact_teacher_spec("epd_stage", 48) +
           fmt::format(
               R"(  epd: {{kind: train_epd, teacher: exact, nfe: {}, k: 2, iterations: 20, batch: 16, validation: 16, lr: 0.05}}
  eval: {{kind: evaluate, seeds: 1000-1015, predictors: [epd]}}
  report: {{kind: report, inputs: [eval]}}
)",
               nfe);
  };
  test::TempDir tmp("dsx_epd_stage");
  std::ofstream(tmp.file("epd.yaml")) << spec(8);
  const auto r = test::run_dsx("run " + tmp.file("epd.yaml") + " --cache-dir " + tmp.file("cache") + " --runs-dir " +
                               tmp.file("runs"));
  BOOST_TEST_INFO(r.out);
  BOOST_REQUIRE_EQUAL(r.code, 0);
  const EpdParams p = load_epd(test::find_named(tmp.file("cache"), "epd.h5").at(0).string());
  BOOST_TEST(p.steps() == 3);  // 3 steps × (1 + 2) − 1 = 8 calls, 5 sequential
  BOOST_TEST(p.afs);
  BOOST_TEST(p.r.abs().sum().item<double>() > 0);  // trained away from neutral
  auto model = GaussianMixture::load_h5(mixture);
  std::vector<int64_t> seeds;
  for (int64_t s = 1000; s < 1016; ++s) seeds.push_back(s);
  const at::Tensor x_T = 80.0 * seeded_noise(seeds, model->info().sample_shape, at::kDouble);
  const double want = test::rmse(epd_sample(*model, x_T, p), model->ode_solution(x_T, 80.0, 0.002));
  const fs::path run = test::only_run_dir(tmp.file("runs"));
  const double got =
      test::csv_value(run / "metrics.csv", "eval,epd,k=2 sequential_nfe=5,polynomial,8,epd,1,rmse_to_reference,");
  BOOST_TEST(!std::isnan(got), test::slurp(run / "metrics.csv"));
  BOOST_TEST(std::abs(got - want) < 1e-8 * want);
  // 7 calls are no whole number of (1 + 2)-call steps with AFS.
  std::ofstream(tmp.file("bad.yaml")) << spec(7);
  const auto bad = test::run_dsx("run " + tmp.file("bad.yaml") + " --cache-dir " + tmp.file("cache"));
  BOOST_TEST(bad.code != 0);
  BOOST_TEST(bad.out.find("bad.yaml:10:47: nfe = 7 is not (steps)(1 + k) − afs") != std::string::npos, bad.out);
}

BOOST_AUTO_TEST_SUITE_END()
