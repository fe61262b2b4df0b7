// Teacher trajectories and AMED training: file layout and streaming, one official training step
// (docs/amed.md §12.4), determinism, and the quality bar of training from 10k cached trajectories.
#include <boost/test/unit_test.hpp>

#include <torch/utils.h>

#include <filesystem>

#include "amed/predictor.h"
#include "amed/solver_catalog.h"
#include "amed/student.h"
#include "amed/teacher.h"
#include "amed/trainer.h"
#include "amed_common.h"
#include "core/noise.h"
#include "solvers/solver.h"
#include "store/h5.h"
#include "store/tensor_h5.h"
#include "support/check.h"
#include "support/scratch.h"

namespace dsx::test {
namespace fs = std::filesystem;

namespace {

std::vector<int64_t> seed_range(int64_t first, int64_t count) {
  std::vector<int64_t> s(count);
  for (int64_t i = 0; i < count; ++i) s[i] = first + i;
  return s;
}

TeacherSpec toy_teacher(const std::string& solver, int m, const std::string& kind, double rho, int64_t n,
                        int64_t batch) {
  TeacherSpec t;
  t.solver = solver;
  if (solver == "ipndm") t.solver_options["max_order"] = {"4", "test"};
  t.m = m;
  t.student_schedule.kind = kind;
  t.student_schedule.num_steps = 4;
  t.student_schedule.rho = rho;
  t.seeds = seed_range(0, n);
  t.batch = batch;
  return t;
}

// RMSE at σ_min against the exact solution on the 64 fixed §12.1 latents z[b,k] = √2 sin(2.1k + 1.7b + 0.3)
// (the official toy run's measure), sampling with `net`.
double student_rmse(AmedSettings s, AmedPredictor net, DiagonalGaussian& model) {
  at::Tensor k = at::arange(192, at::kDouble).unsqueeze(0), b = at::arange(64, at::kDouble).unsqueeze(1);
  at::Tensor x_T = (80.0 * std::sqrt(2.0) * (2.1 * k + 1.7 * b + 0.3).sin()).reshape({64, 3, 8, 8});
  std::vector<double> sigmas = make_schedule(s.schedule);
  AmedStudent student(s, sigmas, net, FeatureMode::Model);
  at::NoGradGuard no_grad;
  model.to(at::kFloat, at::kCPU);
  at::Tensor x = student.sample(model, x_T.to(at::kFloat));
  return rmse(x, model.ode_solution(x_T, sigmas.front(), sigmas.back()));
}

struct Quality {
  double before, after;
  double neutral;  // zero weights: r = ½, c = a = 1, i.e. the base solver on the geometric-midpoint grid
};

Quality train_and_measure(const std::string& student, const std::string& teacher, int m, const std::string& kind,
                          double rho, double scale_time, uint64_t seed = 0) {
  TempDir dir;
  Toy192 toy = toy192();
  generate_teacher(toy_teacher(teacher, m, kind, rho, 10000, 1000), toy.model, at::kCPU, dir.file("traj.h5"));
  TrainSpec spec;
  spec.settings.student = student;
  spec.settings.afs = true;
  spec.settings.max_order = student == "ipndm" ? 4 : 3;
  spec.settings.scale_dir = 0.01;
  spec.settings.scale_time = scale_time;
  spec.batch = 128;
  torch::manual_seed(seed);
  AmedPredictor net(spec.settings.scale_dir, spec.settings.scale_time);
  AmedSettings full = settings_from_trajectories(dir.file("traj.h5"), *toy.model, spec.settings);
  double before = student_rmse(full, net, *toy.model);
  TrainReport r = train_amed(spec, toy.model, at::kCPU, dir.file("traj.h5"), net);
  BOOST_TEST(r.adam_steps == 79 * 3);  // ceil(10000/128) batches × 3 intervals, as the official run
  double after = student_rmse(full, net, *toy.model);
  AmedPredictor zero(spec.settings.scale_dir, spec.settings.scale_time);
  {
    at::NoGradGuard no_grad;
    for (auto& p : zero->parameters()) p.zero_();
  }
  double neutral = student_rmse(full, zero, *toy.model);
  BOOST_TEST_MESSAGE(student << " on " << kind << ": RMSE init " << before << " -> trained " << after
                             << " (neutral r=1/2 plugin " << neutral << ")");
  return {before, after, neutral};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(teacher)

BOOST_AUTO_TEST_CASE(file_layout_streaming_and_batch_invariance) {
  TempDir dir;
  Toy192 toy = toy192();
  TeacherReport r =
      generate_teacher(toy_teacher("heun", 1, "time_uniform", 1, 50, 20), toy.model, at::kCPU, dir.file("a.h5"));
  BOOST_TEST(r.samples == 50);
  BOOST_TEST(r.nfe_per_sample == 12);  // Heun on 7 points (docs/amed.md §12.4: 12 NFE teacher)
  generate_teacher(toy_teacher("heun", 1, "time_uniform", 1, 50, 50), toy.model, at::kCPU, dir.file("b.h5"));
  h5::File a = h5::File::open(dir.file("a.h5")), b = h5::File::open(dir.file("b.h5"));
  BOOST_TEST(a.attr_int("complete") == 1);
  BOOST_TEST(a.attr_string("model_fingerprint") == toy.model->info().fingerprint);
  at::Tensor states = h5::read_tensor(a, "states", at::kFloat);
  BOOST_TEST((states.sizes() == at::IntArrayRef{50, 4, 3, 8, 8}));
  BOOST_TEST(at::equal(states, h5::read_tensor(b, "states", at::kFloat)));  // batch-size invariant
  BOOST_TEST((h5::read_tensor(a, "features").sizes() == at::IntArrayRef{50, 3, 8, 8}));
  BOOST_TEST(at::equal(h5::read_tensor(a, "seeds", at::kLong), at::arange(50, at::kLong)));
  // Row 0 is x_T = 80·z(seed); the last row is a plain Heun run on the refined grid.
  at::Tensor z = seeded_noise({7}, {3, 8, 8}, at::TensorOptions().dtype(at::kFloat));
  check_close(states[7][0], 80.0f * z[0], 0, 0, "x_T of seed 7");
  ScheduleSpec fine = toy_teacher("heun", 1, "time_uniform", 1, 1, 1).student_schedule;
  std::vector<double> grid = make_schedule(refined(fine, 1));
  BOOST_TEST(grid.size() == 7u);
  toy.model->to(at::kFloat, at::kCPU);
  RunResult heun = run_solver("heun", {}, *toy.model, 80.0f * z, grid);
  check_close(states[7][3], heun.x[0], 1e-6, 1e-6, "teacher end point");
  // Student points are teacher grid points: the stored σ grid is the student schedule.
  std::vector<double> sig = a.read_double("sigmas");
  BOOST_TEST(sig[1] == grid[2]);
  BOOST_TEST(sig[2] == grid[4]);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(training)

BOOST_AUTO_TEST_CASE(official_training_step_loss_and_gradients) {
  // docs/amed.md §12.4, AMED-Solver / Heun, M=1, unif1, AFS, head c (0.01) only, the 4 toy latents.
  // The official trainer re-derives each interval as a 2-point float32 time_uniform grid.
  Toy192 toy = toy192();
  toy.model->to(at::kFloat, at::kCPU);
  at::Tensor x_T = toy.x_T.to(at::kFloat);
  std::vector<double> teacher_grid = time_uniform_float32(7, 1);
  std::vector<at::Tensor> traj;
  SampleHooks hooks;
  hooks.on_step = [&](const StepEvent& e) {
    if (e.index % 2 == 1) traj.push_back(e.x.clone());
  };
  make_solver("heun", {})->sample(*toy.model, x_T, teacher_grid, hooks);
  BOOST_REQUIRE_EQUAL(traj.size(), 3u);
  const std::vector<std::vector<double>> teacher_head = {
      {2.920169, 6.828418, -9.310373}, {0.594619, 1.497301, -1.485375}, {0.244829, 0.657817, -0.134983}};
  for (int k = 0; k < 3; ++k) check_close(traj[k].flatten().slice(0, 0, 3), teacher_head[k], 2e-5, 2e-6, "teacher");

  AmedPredictor net = deterministic_predictor(0.01, 0.0);
  const std::vector<double> student_grid = time_uniform_float32(4, 1);
  const double want_loss[] = {88.063393, 0.031352, 89.672096};
  const double want_r[] = {147.02034, -0.155992, 101.438477}, want_c[] = {-23.450682, 0.017493, -0.231745};
  at::Tensor x = x_T;
  for (int k = 0; k < 3; ++k) {
    AmedSettings s;
    s.afs = (k == 0);  // official: AFS at step_idx 0 only
    s.scale_dir = 0.01;
    std::vector<double> interval = time_uniform_float32(2, 1, student_grid[k + 1], student_grid[k]);
    AmedStudent student(s, interval, net, FeatureMode::Model);
    net->zero_grad();
    // The official trainer feeds x/σ_k·σ'_k, σ'_k being the re-derived grid's first point (79.998 for 80).
    at::Tensor out = student.step(*toy.model, x * float(interval[0] / student_grid[k]), 0);
    at::Tensor loss = (out - traj[k]).square().reshape({4, -1}).sum(1).mean();
    loss.backward();
    BOOST_TEST_CONTEXT("interval " << k) {
      BOOST_TEST(loss.item<double>() == want_loss[k], boost::test_tools::tolerance(2e-4));
      BOOST_TEST(net->fc_r->bias.grad().item<double>() == want_r[k], boost::test_tools::tolerance(2e-3));
      BOOST_TEST(net->fc_scale_dir->bias.grad().item<double>() == want_c[k], boost::test_tools::tolerance(2e-3));
    }
    x = traj[k];  // teacher forcing
  }
}

BOOST_AUTO_TEST_CASE(deterministic_for_a_seed) {
  TempDir dir;
  Toy192 toy = toy192();
  generate_teacher(toy_teacher("heun", 1, "time_uniform", 1, 256, 256), toy.model, at::kCPU, dir.file("t.h5"));
  std::vector<at::Tensor> runs;
  for (int rep = 0; rep < 2; ++rep) {
    TrainSpec spec;
    spec.batch = 64;
    torch::manual_seed(3);
    AmedPredictor net(0.01, 0.0);
    train_amed(spec, toy.model, at::kCPU, dir.file("t.h5"), net);
    runs.push_back(net->fc_r->weight.detach().clone());
  }
  BOOST_TEST(at::equal(runs[0], runs[1]));
}

// Joint training (one Adam step per batch on the summed step errors, gradients through the whole student
// trajectory) is per-step training when there is one interval, and otherwise a different optimiser: one
// Adam step per batch, other weights.
BOOST_AUTO_TEST_CASE(joint_training_is_per_step_on_one_interval) {
  TempDir dir;
  Toy192 toy = toy192();
  auto trained = [&](const std::string& file, bool joint, int64_t* steps) {
    TrainSpec spec;
    spec.settings.student = "ipndm";
    spec.settings.afs = true;
    spec.batch = 32;
    spec.joint = joint;
    torch::manual_seed(5);
    AmedPredictor net(0.01, 0.0);
    *steps = train_amed(spec, toy.model, at::kCPU, dir.file(file), net).adam_steps;
    return net->fc_r->weight.detach().clone();
  };
  TeacherSpec one = toy_teacher("heun", 3, "explicit", 1, 64, 64);
  one.student_schedule.sigmas = {80.0, 0.002};
  one.student_schedule.num_steps = 2;
  generate_teacher(one, toy.model, at::kCPU, dir.file("one.h5"));
  int64_t per_step_steps = 0, joint_steps = 0;
  const at::Tensor a = trained("one.h5", false, &per_step_steps), b = trained("one.h5", true, &joint_steps);
  BOOST_TEST(per_step_steps == 2);
  BOOST_TEST(joint_steps == 2);
  BOOST_TEST(at::equal(a, b));
  generate_teacher(toy_teacher("heun", 1, "polynomial", 7, 64, 64), toy.model, at::kCPU, dir.file("three.h5"));
  const at::Tensor c = trained("three.h5", false, &per_step_steps), d = trained("three.h5", true, &joint_steps);
  BOOST_TEST(per_step_steps == 2 * 3);
  BOOST_TEST(joint_steps == 2);
  BOOST_TEST(!at::allclose(c, d));
}

// A predictor trained with features: zero is sampled with zeros wherever it is used: the file records the
// input it learned from and the solver follows it by default (before, sampling fed it the model's features).
BOOST_AUTO_TEST_CASE(predictor_is_sampled_with_the_features_it_was_trained_on) {
  TempDir dir;
  Toy192 toy = toy192();
  BOOST_REQUIRE(toy.model->has_features());
  generate_teacher(toy_teacher("heun", 1, "polynomial", 7, 64, 64), toy.model, at::kCPU, dir.file("t.h5"));
  TrainSpec spec;
  spec.settings.student = "ipndm";
  spec.settings.max_order = 4;  // ipndm's default as a solver
  spec.batch = 32;
  spec.features = FeatureMode::Zero;
  torch::manual_seed(1);
  AmedPredictor net(0.01, 0.0);
  TrainReport r = train_amed(spec, toy.model, at::kCPU, dir.file("t.h5"), net);
  BOOST_TEST(r.settings.features == "zero");
  save_predictor(net, &r.settings, dir.file("p.h5"));
  BOOST_TEST(load_predictor(dir.file("p.h5")).settings->features == "zero");
  const std::vector<double> grid = make_schedule(r.settings.schedule);
  auto sample = [&](const std::map<std::string, std::string>& extra) {
    std::map<std::string, std::string> o = {{"amed.predictor", dir.file("p.h5")}, {"afs", "true"}};
    o.insert(extra.begin(), extra.end());
    return run_solver("ipndm", o, *toy.model, toy.x_T, grid).x;
  };
  AmedStudent zero(r.settings, grid, net, FeatureMode::Zero);
  at::Tensor want;
  {
    at::NoGradGuard no_grad;
    want = zero.sample(*toy.model, toy.x_T);
  }
  check_close(sample({}), want, 1e-6, 1e-6, "default = as trained (zero)");
  check_close(sample({{"amed.features", "zero"}}), want, 1e-6, 1e-6, "zero");
  BOOST_TEST(rmse(sample({{"amed.features", "model"}}), want) > 1e-4);  // the model's features: another sampler
}

// features: pooled weighs the feature map's channels with learned softmax weights: at zero logits it is the
// official channel mean exactly; training moves the weights; the file carries them and sampling uses them.
BOOST_AUTO_TEST_CASE(pooled_features_start_at_the_channel_mean_and_learn) {
  TempDir dir;
  Toy192 toy = toy192();
  generate_teacher(toy_teacher("heun", 1, "polynomial", 7, 64, 64), toy.model, at::kCPU, dir.file("t.h5"));
  TrainSpec spec;
  spec.settings.student = "ipndm";
  spec.settings.max_order = 4;
  spec.batch = 16;
  spec.lr = 0.05;
  spec.features = FeatureMode::Pooled;
  torch::manual_seed(2);
  AmedPredictor net(0.01, 0.0);
  const AmedSettings full = settings_from_trajectories(dir.file("t.h5"), *toy.model, spec.settings);
  const std::vector<double> grid = make_schedule(full.schedule);
  auto sample = [&](AmedPredictor p, FeatureMode m) {
    AmedStudent student(full, grid, p, m);
    at::NoGradGuard no_grad;
    return student.sample(*toy.model, toy.x_T);
  };
  torch::manual_seed(2);
  AmedPredictor mean_net(0.01, 0.0);
  net->enable_pooling(3);
  BOOST_TEST(at::equal(sample(net, FeatureMode::Pooled), sample(mean_net, FeatureMode::Model)));
  BOOST_CHECK_THROW(sample(mean_net, FeatureMode::Pooled), Error);  // no pooling weights
  TrainReport r = train_amed(spec, toy.model, at::kCPU, dir.file("t.h5"), net);
  BOOST_TEST(r.settings.features == "pooled");
  const at::Tensor w = at::softmax(net->pool.detach(), 0);
  BOOST_TEST((w - 1.0 / 3).abs().max().item<double>() > 1e-3);  // learned away from the mean
  save_predictor(net, &r.settings, dir.file("p.h5"));
  const LoadedPredictor lp = load_predictor(dir.file("p.h5"));
  BOOST_REQUIRE(lp.net->pools());
  check_close(lp.net->pool, net->pool.detach(), 0, 0, "pool round trip");
  const auto sampled =
      run_solver("ipndm", {{"amed.predictor", dir.file("p.h5")}, {"afs", "true"}}, *toy.model, toy.x_T, grid);
  check_close(sampled.x, sample(net, FeatureMode::Pooled), 1e-6, 1e-6, "sampling follows the file: pooled");
}

// A teacher on an `explicit` student grid stores the σ list with its schedule attributes, so training
// rebuilds the same grid from the file, and the predictor carries it: sampling on that list is accepted,
// on another grid refused. (Before the list was stored, training failed: "at least 2 points".)
BOOST_AUTO_TEST_CASE(teacher_on_an_explicit_grid_trains) {
  TempDir dir;
  Toy192 toy = toy192();
  TeacherSpec t = toy_teacher("heun", 1, "explicit", 1, 64, 64);
  t.student_schedule.sigmas = {80.0, 9.0, 1.1, 0.002};
  t.student_schedule.sigma_max = 80.0;
  t.student_schedule.sigma_min = 0.002;
  generate_teacher(t, toy.model, at::kCPU, dir.file("t.h5"));
  BOOST_TEST(h5::File::open(dir.file("t.h5")).read_double("schedule_sigmas") == t.student_schedule.sigmas);
  TrainSpec spec;
  spec.batch = 32;
  torch::manual_seed(0);
  AmedPredictor net(0.01, 0.0);
  TrainReport r = train_amed(spec, toy.model, at::kCPU, dir.file("t.h5"), net);
  BOOST_TEST(r.samples == 64);
  BOOST_TEST(r.settings.schedule.kind == "explicit");
  BOOST_TEST(r.settings.schedule.sigmas == t.student_schedule.sigmas);
  save_predictor(net, &r.settings, dir.file("p.h5"));
  LoadedPredictor lp = load_predictor(dir.file("p.h5"));
  BOOST_REQUIRE(lp.settings.has_value());
  BOOST_TEST(lp.settings->schedule.sigmas == t.student_schedule.sigmas);
  auto amed = make_solver(
      "amed", {{"amed.predictor", {dir.file("p.h5"), "test"}}, {"afs", {lp.settings->afs ? "true" : "false", "test"}}});
  at::Tensor x_T = toy.x_T.to(at::kFloat);
  toy.model->to(at::kFloat, at::kCPU);
  BOOST_TEST(at::isfinite(amed->sample(*toy.model, x_T, t.student_schedule.sigmas)).all().item<bool>());
  BOOST_CHECK_THROW(amed->sample(*toy.model, x_T, {80.0, 8.0, 1.0, 0.002}), Error);
}

BOOST_AUTO_TEST_CASE(trained_amed_solver_beats_its_initialisation_3x) {
  // Official toy run (docs/amed.md §7): 1.051 → 0.181 (5.8×) for AMED-Solver, Heun teacher M=1, time_uniform ρ=1.
  Quality q = train_and_measure("amed", "heun", 1, "time_uniform", 1, 0.0);
  BOOST_TEST(q.before / q.after >= 3.0);
  BOOST_TEST(q.neutral / q.after >= 3.0);
}

BOOST_AUTO_TEST_CASE(trained_ipndm_plugin_reaches_the_official_quality) {
  // Official: 0.1445 → 0.096, iPNDM teacher M=2, polynomial ρ=7, scale_time 0.2. The untrained value is
  // a property of the random initialisation (0.075–0.13 over seeds 0–5 here), the trained one is not:
  // every seed lands near the official 0.096 and below the neutral plugin (r = ½, c = a = 1). The
  // before/after ratio therefore ranges 0.74–1.41 with the seed; see the closing note of the AMED issue.
  for (uint64_t seed : {0, 1, 2, 3}) {
    Quality q = train_and_measure("ipndm", "ipndm", 2, "polynomial", 7, 0.2, seed);
    BOOST_TEST_CONTEXT("seed " << seed) {
      BOOST_TEST(q.after <= 0.096 * 1.05);
      BOOST_TEST(q.after < q.neutral);
    }
  }
}

BOOST_AUTO_TEST_CASE(trained_dpm2_plugin_beats_its_initialisation) {
  // Official: 0.234 → 0.143 (1.6×), DPM-Solver-2 teacher M=1, polynomial ρ=7.
  Quality q = train_and_measure("dpm2", "dpm2", 1, "polynomial", 7, 0.0);
  BOOST_TEST(q.before / q.after >= 1.3);
  BOOST_TEST(q.neutral / q.after >= 1.3);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
