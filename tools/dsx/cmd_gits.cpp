// dsx gits CONFIG.yaml [--set key=value]...: GITS without an experiment. The keys of `dsx sample` — model,
// latents (seeds), schedule = the fine teacher grid, solver = the teacher solver, precision, device — plus
//   gits: {nfe, coeff, metric, afs, student, afs_samples}     (the search_schedule stage's keys)
// and `output: FILE.yaml`, which receives schedule: {kind: explicit, sigmas: [...]} and indices: [...] (and
// solver: {afs: true} for an AFS grid), so a sample config can `include:` it.
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "amed/teacher.h"
#include "commands.h"
#include "core/error.h"
#include "core/progress.h"
#include "learned/gits_run.h"
#include "pipeline/gits_config.h"
#include "pipeline/sample_config.h"

namespace dsx::cli {
namespace {

constexpr int64_t kTeacherBatch = 64;

GitsSettings read_gits(MapReader& top, const YamlSource& src) {
  if (!top.has("gits")) fail("{}: missing required key 'gits' ({{nfe, coeff, metric, afs}})", src.path());
  const Schema& schema = gits_settings_schema();
  MapReader r(src, top.node("gits"), "gits");
  r.reject_unknown(key_names(schema));
  const GitsSettings s = read_gits_settings(r, src);
  r.finish(key_names(schema));
  return s;
}

}  // namespace

Action add_gits(CLI::App& app) {
  auto* cmd = app.add_subcommand("gits", "GITS: search a σ schedule from teacher trajectories (writes a YAML)");
  auto config = std::make_shared<std::string>();
  auto sets = std::make_shared<std::vector<std::string>>();
  cmd->add_option("config", *config, "YAML: dsx sample's keys (schedule = fine grid, solver = teacher) + gits")
      ->required();
  cmd->add_option("--set", *sets, "override a config key (repeatable)");
  return [config, sets] {
    GitsSettings settings;
    SampleConfig c = load_sample_config(*config, *sets, {"gits"}, [&](MapReader& top, const YamlSource& src, auto&) {
      settings = read_gits(top, src);
    });
    if (c.seeds.empty()) fail("{}: dsx gits draws its trajectories from latents.seeds (not a latents file)", *config);
    const at::Device device = resolve_device(c.device);
    TeacherSpec spec;
    spec.solver = c.solver.name;
    spec.solver_options = c.solver.options;
    spec.m = 0;
    spec.student_schedule = c.schedule;
    spec.seeds = c.seeds;
    spec.dtype = c.dtype;
    spec.directions = true;
    const TeacherPlan plan(spec, c.model, device);
    std::vector<at::Tensor> states, directions;
    ProgressLine line("teacher", "trajectories", int64_t(c.seeds.size()),
                      [](const std::string& l) { fmt::print(stderr, "{}\n", l); });
    for (size_t first = 0; first < c.seeds.size(); first += kTeacherBatch) {
      std::vector<int64_t> seeds(c.seeds.begin() + int64_t(first),
                                 c.seeds.begin() + int64_t(std::min(c.seeds.size(), first + kTeacherBatch)));
      TeacherPlan::Batch b = plan.run(seeds, int64_t(first / kTeacherBatch));
      states.push_back(b.states);
      directions.push_back(b.directions);
      line.advance(int64_t(seeds.size()));
    }
    line.finish();
    const at::Tensor x = at::cat(states), d = at::cat(directions);
    const GitsResult r = run_gits(
        settings, plan.student(), x.size(0),
        [&](int64_t first, int64_t count) {
          return std::make_pair(x.narrow(0, first, count), d.narrow(0, first, count));
        },
        *in_precision(c.model, c.dtype, device), [](const std::string& l) { fmt::print(stderr, "{}\n", l); });
    std::ofstream(c.output) << learned_schedule_yaml(r.schedule);
    fmt::print("gits: {} trajectories on {} points ({} {}), metric {}, coeff {}: indices [{}]\nsigmas [{}]\nwrote {}\n",
               x.size(0), plan.student().size(), c.schedule.kind, c.solver.name, settings.metric, settings.coeff,
               fmt::join(r.schedule.indices, ", "), fmt::join(r.schedule.sigmas, ", "), c.output);
    return 0;
  };
}

}  // namespace dsx::cli
