// Stage `learn_schedule`: a σ grid learned end to end for one solver and NFE (learned/ld3.h, after LD3) —
// backpropagation through the solver's step-level form against a teacher's end points, best iterate chosen on
// held-out trajectories. The artifact is the grid (schedule.json, schedule.yaml, as search_schedule writes it)
// and the training curve (history.csv, learning.png); evaluate samples it through
// `schedule: {kind: learned, from: STAGE}`, with the decoupled model σ applied when learned.
//
//   teacher (solver: {name: exact}, 2 points, m: 0) ──► learn_schedule [solver, nfe] ──► evaluate (learned)
#include <ATen/ATen.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "amed/teacher_store.h"
#include "core/error.h"
#include "experiments/stages.h"
#include "learned/ld3.h"
#include "pipeline/report.h"
#include "pipeline/run_dir.h"
#include "pipeline/sample_config.h"
#include "pipeline/schema.h"

namespace dsx {
namespace {

const Schema& ld3_schema() {
  static const Schema schema = {
      opt::choice("kind", {"learn_schedule"}, "learn_schedule", "the stage kind"),
      opt::reference("teacher", "teacher",
                     "a teacher stage: its first and last states are the (x_T, target) pairs (recommended: "
                     "solver: {name: exact}, a 2-point grid, m: 0 — the exact ODE solution)"),
      opt::section("solver", true, "",
                   "the student: a solver with a step-level form (euler, ipndm, ipndm_v, dpmpp, deis, scire, unipc) "
                   "and its options, afs included"),
      opt::integer("nfe", 5, 1, 1000, "model evaluations of one sample: sets the grid's size"),
      opt::section("init", false, "{kind: polynomial, rho: 7}",
                   "the schedule family the grid starts from (its σ range must be the teacher's)"),
      opt::flag("decoupled", false, "also learn the σ the model is evaluated at per grid point (LD3's decoupling)"),
      opt::number("max_shift", 0.1, 0.0, 10.0, "bound on |log σ' − log σ| of the decoupled model σ").exclusive_min(),
      opt::integer("iterations", 400, 0, 1 << 24, "Adam steps"),
      opt::integer("batch", 128, 1, 1 << 20,
                   "trajectories per step (the loss is dominated by a few trajectories: small batches are noisy)"),
      opt::number("lr", 0.01, 0.0, 10.0, "Adam learning rate on the interval logits (and shifts)").exclusive_min(),
      opt::integer("validation", 256, 1, 1 << 24,
                   "teacher trajectories held out (the last ones): the kept grid is the best on them"),
      opt::integer("validate_every", 10, 1, 1 << 24, "steps between validations"),
  };
  return schema;
}

Ld3Settings read_ld3(MapReader& r, const YamlSource& src, const ModelInfo& info, StageDef& def) {
  const Schema& schema = ld3_schema();
  r.reject_unknown(key_names(schema));
  require_keys(r, schema);
  r.get_string("kind");
  stage_util::read_ref(r, "teacher", def, "teacher");
  Ld3Settings s;
  const SolverConfig solver = read_solver(src, r.node("solver"), r.path("solver"));
  if (!solver.solver->step_run(2))
    fail(
        "{}: {} has no step-level form to backpropagate through; use euler, ipndm, ipndm_v, dpmpp, deis, scire "
        "or unipc",
        r.where("solver"), solver.name);
  s.solver = solver.name;
  s.solver_options = solver.options;
  s.nfe = read_int(r, schema, "nfe");
  if (points_for_nfe(*solver.solver, s.nfe) == 0)
    fail("{}: {} cannot take exactly {} NFE", r.where("nfe"), solver.name, s.nfe);
  if (r.has("init")) {
    s.init = read_schedule(src, r.node("init"), r.path("init"), info, 2);
    if (s.init.kind == "explicit") fail("{}: init must be a schedule family, not an explicit grid", r.where("init"));
  } else {
    s.init.kind = "polynomial";
    s.init.rho = 7;
    s.init.sigma_min = info.sigma_min;
    s.init.sigma_max = info.sigma_max;
  }
  s.decoupled = read_flag(r, schema, "decoupled");
  s.max_shift = read_number(r, schema, "max_shift");
  s.iterations = read_int(r, schema, "iterations");
  s.batch = read_int(r, schema, "batch");
  s.lr = read_number(r, schema, "lr");
  s.validation = read_int(r, schema, "validation");
  s.validate_every = read_int(r, schema, "validate_every");
  r.finish(key_names(schema));
  json opts = json::object();
  for (const auto& [k, v] : s.solver_options) opts[k] = v.text;
  def.params = {{"solver", {{"name", s.solver}, {"options", opts}}},
                {"nfe", s.nfe},
                {"init", stage_util::schedule_json(s.init)},
                {"decoupled", s.decoupled},
                {"iterations", s.iterations},
                {"batch", s.batch},
                {"lr", s.lr},
                {"validation", s.validation},
                {"validate_every", s.validate_every}};
  if (s.decoupled) def.params["max_shift"] = s.max_shift;
  return s;
}

void write_history(const std::string& path, const Ld3Result& r) {
  std::ofstream out(path);
  out << "iteration,train_rmse,validation_rmse\n";
  out << fmt::format("0,,{:.17g}\n", r.init_rmse);
  for (const auto& p : r.history)
    out << fmt::format("{},{:.17g},{:.17g}\n", p.iteration, p.train_rmse, p.validation_rmse);
}

}  // namespace

StageKind learn_schedule_stage() {
  StageKind k;
  k.name = "learn_schedule";
  k.description = "LD3: a σ grid learned end to end by backpropagation through the solver against teacher end points";
  k.version = 1;
  k.schema = ld3_schema();
  k.parse = [](MapReader& r, const YamlSource& src, const SpecContext& spec) {
    StageDef d;
    d.typed = read_ld3(r, src, spec.model->info(), d);
    return d;
  };
  k.run = [](StageRun& ctx) -> std::pair<std::vector<std::string>, json> {
    const Job& teacher = *ctx.deps.at(0);
    const Ld3Settings& s = stage_params<Ld3Settings>(ctx.job);
    const TeacherSpec& ts = teacher_manifest(teacher);
    const ModelPtr model = ctx.job.run_model();
    const std::vector<double> grid = make_schedule(ts.student_schedule, model->info().process.get());
    ScheduleSpec init = s.init;
    init.num_steps = 2;
    const std::vector<double> range = make_schedule(init, model->info().process.get());
    if (!same_sigma(range.front(), grid.front()) || !same_sigma(range.back(), grid.back()))
      fail("{}: init spans σ {} → {}, the teacher '{}' {} → {}: they must match", ctx.job.label, range.front(),
           range.back(), teacher.label, grid.front(), grid.back());
    at::Tensor x_T, target;
    {
      cache::Lock reading = ctx.cache.lock(teacher.key, -1, cache::LockMode::Shared);
      TeacherShards shards(ctx.cache, teacher.key, ts.seeds);
      const at::Tensor states = shards.states(0, shards.size(), at::kDouble);
      x_T = states.select(1, 0).contiguous();
      target = states.select(1, states.size(1) - 1).contiguous();
    }
    ctx.log(fmt::format("  {}: {} on {} trajectories ({} held out), NFE {}, {} steps of {}", ctx.job.label, s.solver,
                        x_T.size(0), s.validation, s.nfe, s.iterations, s.batch));
    const Ld3Result r = learn_schedule(s, *model, x_T, target, [&](const Ld3Progress& p) {
      if (p.iteration % (10 * s.validate_every) == 0 || p.iteration == s.iterations)
        ctx.log(fmt::format("  {}: step {}/{}: batch RMSE {:.5g}, validation RMSE {:.5g}", ctx.job.label, p.iteration,
                            s.iterations, p.train_rmse, p.validation_rmse));
    });
    write_learned_schedule(ctx.out_dir, r.schedule);
    write_history(ctx.out_dir + "/history.csv", r);
    std::vector<std::string> files = {"schedule.json", "schedule.yaml", "history.csv"};
    Series curve{"validation RMSE", {{0.0, r.init_rmse}}};
    for (const auto& p : r.history) curve.points.push_back({double(p.iteration), p.validation_rmse});
    std::string warning;
    const std::string png =
        run_gnuplot(ctx.out_dir, "learning", fmt::format("{}: {} at NFE {}", ctx.job.label, s.solver, s.nfe),
                    "Adam step", "RMSE to the teacher (held out)", {curve}, false, &warning);
    if (!png.empty()) files.push_back(png);
    if (!warning.empty()) ctx.log(fmt::format("  {}: {}", ctx.job.label, warning));
    ctx.log(fmt::format("  {}: validation RMSE {:.5g} → {:.5g} (step {}); σ = [{:.5g}]", ctx.job.label, r.init_rmse,
                        r.best_rmse, r.best_iteration, fmt::join(r.schedule.sigmas, ", ")));
    return {files, json{{"init_validation_rmse", r.init_rmse}, {"validation_rmse", r.best_rmse}}};
  };
  k.publish = [](StageRun& ctx) {
    if (ctx.run_dir)
      std::filesystem::copy_file(ctx.out_dir + "/schedule.yaml", ctx.run_dir->file(ctx.job.label + ".schedule.yaml"),
                                 std::filesystem::copy_options::overwrite_existing);
  };
  return k;
}

}  // namespace dsx
