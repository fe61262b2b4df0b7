// Stage `learn_schedule`: a σ grid learned end to end for one solver and NFE (learned/ld3.h, after LD3) —
// backpropagation through the solver's step-level form against a teacher's end points, best iterate chosen on
// held-out trajectories. The artifact is the grid (schedule.json, schedule.yaml, as search_schedule writes it)
// and the training curve (history.csv, learning.png); evaluate samples it through
// `schedule: {kind: learned, from: STAGE}`, with the decoupled model σ applied when learned.
//
//   teacher (solver: {name: exact}, 2 points, m: 0) ──► learn_schedule [solver, nfe] ──► evaluate (learned)
#include <ATen/ATen.h>

#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "experiments/fit_stage.h"
#include "experiments/stages.h"
#include "learned/ld3.h"
#include "pipeline/fit_config.h"
#include "pipeline/sample_config.h"
#include "pipeline/schema.h"

namespace dsx {
namespace {

const Schema& ld3_schema() {
  static const Schema schema = [] {
    Schema s = {
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
    };
    for (const auto& k : fit_settings_schema()) s.push_back(k);
    return s;
  }();
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
  s.fit = read_fit_settings(r);
  r.finish(key_names(schema));
  json opts = json::object();
  for (const auto& [k, v] : s.solver_options) opts[k] = v.text;
  def.params = {{"solver", {{"name", s.solver}, {"options", opts}}},
                {"nfe", s.nfe},
                {"init", stage_util::schedule_json(s.init)},
                {"decoupled", s.decoupled},
                {"fit", fit_params(s.fit)}};
  if (s.decoupled) def.params["max_shift"] = s.max_shift;
  return s;
}

}  // namespace

StageKind learn_schedule_stage() {
  StageKind k;
  k.name = "learn_schedule";
  k.description = "LD3: a σ grid learned end to end by backpropagation through the solver against teacher end points";
  k.version = 1;
  k.schema = ld3_schema();
  k.collective = true;  // data-parallel over the ranks of a multi-process run
  k.parse = [](MapReader& r, const YamlSource& src, const SpecContext& spec) {
    StageDef d;
    d.typed = read_ld3(r, src, spec.model->info(), d);
    return d;
  };
  k.run = [](StageRun& ctx) -> std::pair<std::vector<std::string>, json> {
    const Job& teacher = *ctx.deps.at(0);
    const Ld3Settings& s = stage_params<Ld3Settings>(ctx.job);
    const ModelPtr model = ctx.job.run_model();
    const TeacherEndPoints pairs = teacher_end_points(ctx, teacher);
    ScheduleSpec init = s.init;
    init.num_steps = 2;
    const std::vector<double> range = make_schedule(init, model->info().process.get());
    if (!same_sigma(range.front(), pairs.sigmas.front()) || !same_sigma(range.back(), pairs.sigmas.back()))
      fail("{}: init spans σ {} → {}, the teacher '{}' {} → {}: they must match", ctx.job.label, range.front(),
           range.back(), teacher.label, pairs.sigmas.front(), pairs.sigmas.back());
    ctx.log(fmt::format("  {}: {} on {} trajectories ({} held out), NFE {}, {} steps of {}", ctx.job.label, s.solver,
                        pairs.x_T.size(0), s.fit.validation, s.nfe, s.fit.iterations, s.fit.batch));
    const Ld3Result r =
        learn_schedule(s, *model, pairs.x_T, pairs.target, fit_logger(ctx, s.fit), dist::DataParallel{ctx.group});
    write_learned_schedule(ctx.out_dir, r.schedule);
    std::vector<std::string> files = {"schedule.json", "schedule.yaml"};
    for (const auto& f : write_fit_curve(ctx, r.fit, fmt::format("{}: {} at NFE {}", ctx.job.label, s.solver, s.nfe)))
      files.push_back(f);
    ctx.log(fmt::format("  {}: validation RMSE {:.5g} → {:.5g} (step {}); σ = [{:.5g}]", ctx.job.label, r.fit.init_rmse,
                        r.fit.best_rmse, r.fit.best_iteration, fmt::join(r.schedule.sigmas, ", ")));
    return {files, json{{"init_validation_rmse", r.fit.init_rmse}, {"validation_rmse", r.fit.best_rmse}}};
  };
  k.publish = stage_util::publish_schedule_yaml;
  return k;
}

}  // namespace dsx
