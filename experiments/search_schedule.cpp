// Stage `search_schedule`: GITS (learned/gits.h) — a student grid chosen from a teacher stage's fine grid by
// dynamic programming over one-step Euler costs, optionally with GITS's AFS insertion. The artifact is the
// σ grid (schedule.json, schedule.yaml as `dsx gits` writes it) and the cost matrix (cost.h5); evaluate uses
// it through `schedule: {kind: learned, from: STAGE}`. Sweeps over nfe and coeff share the teacher.
//
//   teacher (fine grid, m: 0, directions: true) ──► search_schedule [nfe, coeff] ──► evaluate (learned)
#include <ATen/ATen.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "amed/teacher_store.h"
#include "core/error.h"
#include "experiments/stages.h"
#include "learned/gits_run.h"
#include "learned/learned_schedule.h"
#include "pipeline/gits_config.h"
#include "store/h5.h"
#include "store/tensor_h5.h"

namespace dsx {
namespace {

const Schema& search_schema() {
  static const Schema schema = [] {
    Schema s = {opt::choice("kind", {"search_schedule"}, "search_schedule", "the stage kind"),
                opt::reference("teacher", "teacher",
                               "a teacher stage with directions: true; its schedule is the fine grid searched (GITS: "
                               "61-point polynomial ρ = 7, solver ipndm, m: 0, 256 seeds)")};
    for (const auto& k : gits_settings_schema()) s.push_back(k);
    return s;
  }();
  return schema;
}

GitsSettings read_search(MapReader& r, const YamlSource& src, StageDef& def) {
  const Schema& schema = search_schema();
  r.reject_unknown(key_names(schema));
  require_keys(r, schema);
  r.get_string("kind");
  stage_util::read_ref(r, "teacher", def, "teacher");
  const GitsSettings s = read_gits_settings(r, src);
  r.finish(key_names(schema));
  def.params = {{"nfe", s.nfe}, {"coeff", s.coeff}, {"metric", s.metric}, {"afs", s.afs}};
  if (s.afs) {
    json o = json::object();
    for (const auto& [k, v] : s.student_options) o[k] = v.text;
    def.params["student"] = {{"name", s.student}, {"options", o}};
    def.params["afs_samples"] = s.afs_samples;
  }
  return s;
}

}  // namespace

StageKind search_schedule_stage() {
  StageKind k;
  k.name = "search_schedule";
  k.description = "GITS: a student σ grid chosen from a teacher's fine grid by dynamic programming";
  k.version = 2;  // 2: the cost matrix sums batches of 64 trajectories (1: 256; the low bits differ)
  k.schema = search_schema();
  k.collective = true;  // cost-matrix batches are shared over the ranks of a multi-process run
  k.parse = [](MapReader& r, const YamlSource& src, const SpecContext&) {
    StageDef d;
    d.typed = read_search(r, src, d);
    return d;
  };
  k.run = [](StageRun& ctx) -> std::pair<std::vector<std::string>, json> {
    const Job& teacher = *ctx.deps.at(0);
    const GitsSettings& s = stage_params<GitsSettings>(ctx.job);
    const TeacherSpec& ts = teacher_manifest(teacher);
    if (!ts.directions)
      fail("{}: teacher stage '{}' keeps no directions: set directions: true in it (GITS's cost needs them)",
           ctx.job.label, teacher.label);
    const ModelPtr model = ctx.job.run_model();
    cache::Lock reading = ctx.cache.lock(teacher.key, -1, cache::LockMode::Shared);
    TeacherShards shards(ctx.cache, teacher.key, ts.seeds);
    const std::vector<double> grid = shards.sigmas();
    const GitsResult found = run_gits(
        s, grid, shards.size(),
        [&](int64_t first, int64_t count) {
          return std::make_pair(shards.states(first, count, at::kDouble), shards.directions(first, count, at::kDouble));
        },
        *model, ctx.log, ctx.group);
    const LearnedSchedule& out = found.schedule;
    ctx.log(fmt::format("  {}: {} trajectories, DP value {:.6g}, indices [{}]", ctx.job.label, shards.size(),
                        found.path.cost, fmt::join(out.indices, ", ")));
    write_learned_schedule(ctx.out_dir, out);
    h5::File f = h5::File::create(ctx.out_dir + "/cost.h5");
    h5::write_tensor(f, "cost", found.cost);
    h5::write_tensor(f, "teacher_sigmas", at::tensor(grid, at::kDouble));
    f.close();
    ctx.log(fmt::format("  {}: σ = [{}]", ctx.job.label, fmt::join(out.sigmas, ", ")));
    return {{"schedule.json", "schedule.yaml", "cost.h5"}, json{{"indices", out.indices}}};
  };
  k.publish = stage_util::publish_schedule_yaml;
  return k;
}

}  // namespace dsx
