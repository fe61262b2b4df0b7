// Stage `teacher`: AMED teacher trajectories in the seed-extendable shard store (amed/teacher_store.h).
#include <filesystem>

#include <fmt/format.h>

#include "amed/teacher_store.h"
#include "core/error.h"
#include "core/progress.h"
#include "dist/group.h"
#include "experiments/stages.h"
#include "learned/learned_schedule.h"
#include "pipeline/sample_config.h"

namespace dsx {
namespace {

const Schema& teacher_schema() {
  static const Schema schema = {
      opt::choice("kind", {"teacher"}, "teacher", "the stage kind"),
      opt::section("schedule", true, "",
                   "the student grid: a schedule section (kind, num_steps, sigma_min, ...), or {kind: learned, from: "
                   "STAGE}: the grid a search_schedule or learn_schedule stage found (its σ points; a decoupled "
                   "grid's model σ are the student's business, not the teacher's)"),
      opt::section("solver", false, "{name: heun}",
                   "the teacher solver on the refined grid: {name, options}; {name: exact} takes the model's exact ODE "
                   "solution (mixtures, Gaussians) at the student points, with m: 0"),
      opt::integer("m", 1, 0, 1000, "teacher points inserted inside each student interval (AMED's M; 0 for exact)"),
      opt::seeds("seeds", "the trajectories' seeds; a larger range later extends the cached ones"),
      opt::flag("directions", false,
                "also keep the raw direction (x − D(x, σ))/σ at every grid point (search_schedule's GITS needs it)"),
      opt::integer("batch", 256, 1, 1 << 20, "trajectories per batch (memory; not part of the key)"),
      opt::integer("workers", 1, 1, 256, "parallel batches (LibTorch at one thread each; not part of the key)"),
  };
  return schema;
}

TeacherSpec read_teacher(MapReader& r, const YamlSource& src, const ModelInfo& info, bool exact_model, StageDef& def) {
  const Schema& schema = teacher_schema();
  r.reject_unknown(key_names(schema));
  require_keys(r, schema);
  r.get_string("kind");
  TeacherSpec s;
  const std::string learned = stage_util::read_learned_ref(src, r.node("schedule"), r.path("schedule"), def);
  if (learned.empty())
    s.student_schedule = read_schedule(src, r.node("schedule"), r.path("schedule"), info);
  else
    s.grid_source = learned;  // the artifact's identity replaces it in keyed_spec
  json opts = json::object();
  const YAML::Node solver = r.has("solver") ? r.node("solver") : YAML::Node();
  if (solver.IsMap() && solver["name"] && solver["name"].IsScalar() && solver["name"].Scalar() == kExactTeacher) {
    MapReader e(src, solver, r.path("solver"));
    e.reject_unknown({"name"});
    s.solver = e.get_string("name");
    e.finish({"name"});
    if (!exact_model) fail("{}: the exact teacher needs a model with an exact ODE solution", r.where("solver"));
    if (r.has("m") && read_int(r, schema, "m") != 0)
      fail("{}: the exact teacher takes no refinement: m must be 0", r.where("m"));
  } else if (r.has("solver")) {
    SolverConfig c = read_solver(src, r.node("solver"), r.path("solver"));
    s.solver = c.name;
    s.solver_options = c.options;
    for (const auto& [k, v] : c.options) opts[k] = v.text;
  }
  s.m = s.solver == kExactTeacher ? 0 : int(read_int(r, schema, "m"));
  s.seeds = stage_util::read_seeds(r, "seeds");
  s.directions = read_flag(r, schema, "directions");
  s.batch = read_int(r, schema, "batch");
  s.workers = int(read_int(r, schema, "workers"));
  r.finish(key_names(schema));
  json* params = &def.params;
  *params = {{"schedule", learned.empty() ? stage_util::schedule_json(s.student_schedule)
                                          : json{{"kind", "learned"}, {"from", learned}}},
             {"solver", s.solver},
             {"solver_options", opts},
             {"m", s.m},
             {"seeds", s.seeds.size()},
             {"first_seed", s.seeds.front()},
             {"batch", s.batch}};
  if (s.directions) (*params)["directions"] = true;
  return s;
}

// The spec the store is keyed by: a learned grid is named by its stage's artifact (compute_keys has set
// job.upstream; the grid is the teacher's only reference).
TeacherSpec keyed_spec(const Job& job) {
  TeacherSpec s = stage_params<TeacherSpec>(job);
  if (!s.grid_source.empty()) s.grid_source = job.upstream.at(0);
  return s;
}

// What the stage computes: keyed_spec with the learned grid read from its (finished) upstream stage.
TeacherSpec resolved_spec(const StageRun& ctx) {
  TeacherSpec s = keyed_spec(ctx.job);
  if (!s.grid_source.empty()) {
    ScheduleSpec& g = s.student_schedule;
    g = ScheduleSpec{};
    g.kind = "explicit";
    g.sigmas = read_learned_schedule(ctx.cache.dir(ctx.deps.at(0)->key)).sigmas;
    g.num_steps = int(g.sigmas.size());
    g.sigma_max = g.sigmas.front();
    g.sigma_min = g.sigmas.back();
  }
  return s;
}

}  // namespace

const TeacherSpec& teacher_manifest(const Job& teacher) { return stage_params<TeacherSpec>(teacher); }

StageKind teacher_stage() {
  StageKind k;
  k.name = "teacher";
  k.description = "teacher trajectories for AMED training (cached by seed, extendable)";
  k.version = kTeacherStoreVersion;
  k.schema = teacher_schema();
  k.parse = [](MapReader& r, const YamlSource& src, const SpecContext& spec) {
    StageDef d;
    TeacherSpec t = read_teacher(r, src, spec.model->info(), spec.model->exact() != nullptr, d);
    t.dtype = spec.dtype;
    d.typed = t;
    return d;
  };
  k.key = [](const Job& job) { return teacher_key(keyed_spec(job), job.model->info(), job.device); };
  k.output_id = [](const Job& job) {
    return job.key.hex + "+seeds:" + stage_util::seed_hash(teacher_manifest(job).seeds);
  };
  k.probe = [](const Job& job, const cache::Cache& cache, std::string* why) {
    const TeacherSpec s = keyed_spec(job);
    TeacherStoreReport p = probe_teacher(cache, s, job.model->info(), job.device);
    *why = p.status == cache::JobState::Hit ? "cached"
           : p.status == cache::JobState::Extend && p.cached == int64_t(s.seeds.size())
               ? std::string("every seed cached")
           : p.status == cache::JobState::Extend
               ? fmt::format("{} of {} seeds cached; computing the rest", p.cached, s.seeds.size())
               : "no cached trajectories for these settings";
    for (const auto& w : p.warnings) *why += "; " + w;  // e.g. a corrupt shard that will be recomputed
    return p.status;
  };
  k.run = [](StageRun& ctx) -> std::pair<std::vector<std::string>, json> {
    const TeacherSpec s = resolved_spec(ctx);
    const std::string label = ctx.job.label;
    ProgressLine line(label, "samples", 0, ctx.log);
    Progress progress = [&](int64_t done, int64_t total) { line.update(done, total); };
    ctx.log(fmt::format("RUN {} ({} seeds)", label, s.seeds.size()));
    // --force: ensure_teacher deletes the entry under the key's lock (a concurrent writer may hold it).
    // Ranks of one run wait for each other's claims no longer than for a collective (a stopped rank holds its).
    const double lock_timeout = ctx.group ? ctx.group->timeout_seconds() : -1;
    TeacherStoreReport r =
        ensure_teacher(ctx.cache, s, ctx.job.run_model(), ctx.job.device, progress, lock_timeout, ctx.force);
    for (const auto& w : r.warnings) ctx.log(fmt::format("  {}: warning: {}", label, w));
    line.finish();
    ctx.log(fmt::format("  {}: {} seeds cached, {} computed, {:.2f} s", label, r.cached, r.computed, r.seconds));
    return {{}, json{{"computed", r.computed}}};
  };
  return k;
}

}  // namespace dsx
