#include "experiments/stages.h"

#include <filesystem>

#include "core/error.h"
#include "core/seeds.h"
#include "pipeline/run_dir.h"
#include "pipeline/sample_config.h"

namespace dsx {

const std::vector<StageKind>& stage_kinds() {
  static const std::vector<StageKind> kinds = {
      teacher_stage(),     train_amed_stage(),          evaluate_stage(),        report_stage(),
      train_model_stage(), train_classifier_stage(),    search_schedule_stage(), learn_schedule_stage(),
      train_epd_stage(),   analyze_trajectories_stage()};
  return kinds;
}

namespace stage_util {

std::vector<int64_t> read_seeds(MapReader& r, const std::string& key) {
  YAML::Node n = r.node(key);
  std::string text;
  if (n.IsSequence())
    for (const auto& s : n) text += (text.empty() ? "" : ",") + s.Scalar();
  else if (n.IsScalar())
    text = n.Scalar();
  else
    fail("{}: {} must be a seed range like 0-99 or a list of integers", r.where(key), r.path(key));
  try {
    auto seeds = parse_seed_ranges(text);
    if (seeds.empty()) fail("no seeds");
    return seeds;
  } catch (const Error& e) {
    fail("{}: {}", r.where(key), e.what());
  }
}

void publish_schedule_yaml(StageRun& ctx) {
  if (ctx.run_dir)
    std::filesystem::copy_file(ctx.out_dir + "/schedule.yaml", ctx.run_dir->file(ctx.job.label + ".schedule.yaml"),
                               std::filesystem::copy_options::overwrite_existing);
}

std::string read_ref(MapReader& r, const std::string& key, StageDef& def, const std::string& kind) {
  std::string name = r.get_string(key);
  def.refs.push_back({name, r.where(key), kind});
  return name;
}

std::string read_learned_ref(const YamlSource& src, const YAML::Node& node, const std::string& path, StageDef& def) {
  if (!node.IsMap() || !node["kind"] || !node["kind"].IsScalar() || node["kind"].Scalar() != "learned") return "";
  MapReader r(src, node, path);
  r.reject_unknown({"kind", "from"});
  r.get_string("kind");
  if (!r.has("from"))
    fail("{}: a learned schedule needs from: STAGE (a search_schedule or learn_schedule stage)", r.where("from"));
  std::string name = read_ref(r, "from", def, "search_schedule|learn_schedule");
  r.finish({"kind", "from"});
  return name;
}

json schedule_json(const ScheduleSpec& s) {
  json j = {{"kind", s.kind},
            {"num_steps", s.num_steps},
            {"sigma_min", s.sigma_min},
            {"sigma_max", s.sigma_max},
            {"rho", s.rho},
            {"k", s.k},
            {"eps_s", s.eps_s}};
  if (!s.sigmas.empty()) j["sigmas"] = s.sigmas;
  return j;
}

void copy_atomically(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  const fs::path target(to), tmp = target.string() + ".tmp";
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  fs::copy_file(from, tmp, fs::copy_options::overwrite_existing);
  fs::rename(tmp, target);
}

std::string seed_hash(const std::vector<int64_t>& seeds) { return cache::seed_hash(seeds); }

}  // namespace stage_util
}  // namespace dsx
