// Stage `analyze_trajectories`: the geometry of a teacher stage's cached trajectories (learned/geometry.h) —
// how planar each trajectory is (explained variance of its top 1/2/3 principal directions), how far it bows
// from its chord and how sharply it turns, per grid point. Writes geometry.json, geometry.md (a table and
// the plots) and deviation/angle plots against σ; published into the run directory as <stage>.geometry.md.
//
//   teacher (any grid; a fine one shows the shape) ──► analyze_trajectories
#include <ATen/ATen.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

#include "amed/teacher_store.h"
#include "core/error.h"
#include "experiments/stages.h"
#include "learned/geometry.h"
#include "pipeline/report.h"
#include "pipeline/run_dir.h"
#include "pipeline/schema.h"

namespace dsx {
namespace {

constexpr int64_t kBatch = 256;  // trajectories per batch (memory, not results)

const Schema& geometry_schema() {
  static const Schema schema = {
      opt::choice("kind", {"analyze_trajectories"}, "analyze_trajectories", "the stage kind"),
      opt::reference("teacher", "teacher", "the teacher stage whose trajectories are measured (its student grid)"),
  };
  return schema;
}

std::string markdown(const std::string& label, const GeometrySummary& g, const std::vector<double>& sigmas,
                     const std::vector<std::string>& plots) {
  std::string md = fmt::format(
      "# Trajectory geometry: {}\n\n{} trajectories on {} grid points (σ {:.4g} → {:.4g}).\n\n"
      "| principal directions | 1 | 2 | 3 |\n|---|---:|---:|---:|\n",
      label, g.count(), sigmas.size(), sigmas.front(), sigmas.back());
  md += fmt::format("| explained variance, mean | {:.6f} | {:.6f} | {:.6f} |\n", g.explained_mean(1),
                    g.explained_mean(2), g.explained_mean(3));
  md += fmt::format("| explained variance, worst trajectory | {:.6f} | {:.6f} | {:.6f} |\n\n", g.explained_min(1),
                    g.explained_min(2), g.explained_min(3));
  const std::vector<double> dev = g.deviation_mean(), ang = g.angle_mean();
  md +=
      "| point | σ | chord deviation / chord length | turning angle to the next secant (°) |\n|---:|---:|---:|---:|\n";
  for (size_t i = 0; i < sigmas.size(); ++i)
    md += fmt::format("| {} | {:.5g} | {:.5f} | {} |\n", i, sigmas[i], dev[i],
                      i >= 1 && i - 1 < ang.size() ? fmt::format("{:.3f}", ang[i - 1]) : "");
  for (const auto& p : plots) md += fmt::format("\n![{}]({})\n", p, p);
  return md;
}

}  // namespace

StageKind analyze_trajectories_stage() {
  StageKind k;
  k.name = "analyze_trajectories";
  k.description = "trajectory geometry of a teacher: planarity (PCA), chord deviation and turning angles vs σ";
  k.version = 1;
  k.schema = geometry_schema();
  k.parse = [](MapReader& r, const YamlSource&, const SpecContext&) {
    const Schema& schema = geometry_schema();
    r.reject_unknown(key_names(schema));
    require_keys(r, schema);
    r.get_string("kind");
    StageDef d;
    stage_util::read_ref(r, "teacher", d, "teacher");
    r.finish(key_names(schema));
    return d;
  };
  k.run = [](StageRun& ctx) -> std::pair<std::vector<std::string>, json> {
    const Job& teacher = *ctx.deps.at(0);
    const TeacherSpec& ts = teacher_manifest(teacher);
    cache::Lock reading = ctx.cache.lock(teacher.key, -1, cache::LockMode::Shared);
    TeacherShards shards(ctx.cache, teacher.key, ts.seeds);
    const std::vector<double> sigmas = shards.sigmas();
    if (sigmas.size() < 3)
      fail("{}: the teacher's grid has {} points; the geometry needs 3", ctx.job.label, sigmas.size());
    GeometrySummary g;
    for (int64_t first = 0; first < shards.size(); first += kBatch)
      g.add(trajectory_geometry(shards.states(first, std::min(kBatch, shards.size() - first), at::kDouble)));
    std::vector<std::string> files = {"geometry.json", "geometry.md"}, plots;
    std::string warning;
    const std::vector<double> dev = g.deviation_mean(), ang = g.angle_mean();
    Series dev_series{"mean over trajectories", {}}, ang_series{"mean over trajectories", {}};
    for (size_t i = 1; i + 1 < sigmas.size(); ++i) dev_series.points.emplace_back(sigmas[i], dev[i]);  // ends: 0
    for (size_t i = 0; i < ang.size(); ++i) ang_series.points.emplace_back(sigmas[i + 1], ang[i]);
    for (auto [stem, title, ylabel, series] :
         {std::make_tuple("deviation", "distance from the chord / chord length", "relative deviation", dev_series),
          std::make_tuple("angle", "turning angle between consecutive secants", "degrees", ang_series)}) {
      const std::string png = run_gnuplot(ctx.out_dir, stem, title, "σ", ylabel, {series}, true, &warning);
      if (!warning.empty()) ctx.log("  " + ctx.job.label + ": warning: " + warning);
      if (png.empty()) continue;
      plots.push_back(png);
      for (const char* ext : {".png", ".gp", ".dat"}) files.push_back(std::string(stem) + ext);
    }
    json out = {{"trajectories", g.count()},
                {"sigmas", sigmas},
                {"explained_mean", {g.explained_mean(1), g.explained_mean(2), g.explained_mean(3)}},
                {"explained_min", {g.explained_min(1), g.explained_min(2), g.explained_min(3)}},
                {"deviation_mean", dev},
                {"angle_mean", ang}};
    std::ofstream(ctx.out_dir + "/geometry.json") << out.dump(1);
    std::ofstream(ctx.out_dir + "/geometry.md") << markdown(ctx.job.label, g, sigmas, plots);
    for (const auto& e : std::filesystem::directory_iterator(ctx.out_dir))
      if (e.path().extension() == ".log") std::filesystem::remove(e.path());
    ctx.log(fmt::format("  {}: {} trajectories; explained variance of 1/2/3 directions {:.4f} / {:.4f} / {:.4f}",
                        ctx.job.label, g.count(), g.explained_mean(1), g.explained_mean(2), g.explained_mean(3)));
    return {files, json{{"explained_mean", out["explained_mean"]}}};
  };
  k.publish = [](StageRun& ctx) {
    if (!ctx.run_dir) return;
    // Prefixed with the stage's label (several analyses share a run directory); the markdown's links follow.
    const std::string prefix = ctx.job.label + ".";
    for (const auto& e : std::filesystem::directory_iterator(ctx.out_dir)) {
      const std::string name = e.path().filename().string();
      if (name == "meta.json" || name == "geometry.md") continue;
      std::filesystem::copy_file(e.path(), ctx.run_dir->file(prefix + name),
                                 std::filesystem::copy_options::overwrite_existing);
    }
    std::ifstream in(ctx.out_dir + "/geometry.md");
    std::string md((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const char* png : {"deviation.png", "angle.png"})
      for (size_t at = md.find(std::string("(") + png + ")"); at != std::string::npos;
           at = md.find(std::string("(") + png + ")", at + 1))
        md.replace(at + 1, std::strlen(png), prefix + png);
    std::ofstream(ctx.run_dir->file(prefix + "geometry.md")) << md;
  };
  return k;
}

}  // namespace dsx
