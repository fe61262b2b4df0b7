// Stage `report`: gathers the rows of its `inputs` (every sweep variant of each) into metrics.csv,
// report.md (AMED-paper layout), results.json and PNG plots, cached like any artifact and published into
// the run directory.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "core/error.h"
#include "data/image_grid.h"
#include "experiments/image_fd.h"
#include "experiments/stages.h"
#include "pipeline/report.h"
#include "pipeline/run_dir.h"
#include "store/h5.h"
#include "store/tensor_h5.h"

namespace dsx {
namespace fs = std::filesystem;
namespace {

const Schema& report_schema() {
  static const Schema schema = {
      opt::choice("kind", {"report"}, "report", "the stage kind"),
      opt::references("inputs", "evaluate", true, "the evaluate stages whose rows it gathers (every sweep variant)"),
      opt::text("title", "Results", "the report's title"),
      opt::int_list("nfe", "[]", "the NFE columns of the tables (default: every NFE in the rows)"),
      opt::integer("grid_seeds", 8, 0, 64,
                   "samples per method in the sample grids, one PNG per NFE (from inputs with save_samples: true)"),
      opt::references("analyses", "analyze_trajectories", false,
                      "trajectory-geometry stages whose tables and plots are appended to report.md"),
      opt::text("data_grid", "",
                "images shown beside the sample grids (data.png, as large as one of them): fashion_mnist[:split], "
                "a samples .h5 or a PNG folder; none when empty"),
  };
  return schema;
}

// An analyze_trajectories stage's geometry.md as a section of the report: its plots copied in with the
// stage's label as prefix (several analyses share the directory), the links and heading adjusted.
std::string geometry_section(const StageRun& ctx, const Job& analysis, std::vector<std::string>& files) {
  const std::string dir = ctx.cache.dir(analysis.key), prefix = analysis.label + ".";
  std::ifstream in(dir + "/geometry.md");
  std::string md((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (md.empty()) fail("{}: {}/geometry.md is missing or empty", ctx.job.label, dir);
  for (const char* png : {"deviation.png", "angle.png"}) {
    if (!fs::exists(dir + "/" + png)) continue;
    fs::copy_file(dir + "/" + png, ctx.out_dir + "/" + prefix + png, fs::copy_options::overwrite_existing);
    files.push_back(prefix + png);
    const std::string link = std::string("(") + png + ")";
    for (size_t at = md.find(link); at != std::string::npos; at = md.find(link, at + 1))
      md.replace(at + 1, std::strlen(png), prefix + png);
  }
  return "\n#" + md;  // "# Trajectory geometry: …" becomes a section of the report
}

// Sample grids as in the AMED paper's qualitative figures: one PNG per NFE, a row per method (each input's
// items in order), the first `seeds` samples of each, so every column is one seed. Returns the markdown
// that shows them ("" when no input saved samples).
std::string sample_grids(const StageRun& ctx, int64_t seeds, const std::optional<ImageOperand>& data,
                         std::vector<std::string>& files) {
  struct Row {
    std::string label;
    at::Tensor images;
  };
  std::map<int64_t, std::vector<Row>> by_nfe;
  for (const Job* d : ctx.deps) {
    const std::string path = ctx.cache.dir(d->key) + "/samples.h5";
    if (!fs::exists(path)) continue;
    const h5::File f = h5::File::open(path);
    for (int i = 0;; ++i) {
      const std::string item = fmt::format("item_{:04d}", i);
      if (!f.has(item)) break;
      MetricRow m;
      m.solver = f.attr_string("solver", item);
      m.schedule = f.attr_string("schedule", item);
      m.predictor = f.attr_string("predictor", item);
      const at::Tensor x = h5::read_tensor(f, item, at::kFloat);
      if (x.dim() != 4 || (x.size(1) != 1 && x.size(1) != 3)) return "";  // not images: no grids
      by_nfe[f.attr_int("nfe", item)].push_back({m.method(), x.narrow(0, 0, std::min(seeds, x.size(0)))});
    }
  }
  if (by_nfe.empty() && !data) return "";
  std::string md = fmt::format(
      "\n## Samples\n\nThe same {} seeds (columns) under every method (rows, top to bottom), one grid per NFE.\n",
      seeds);
  if (data) {  // as many images as the largest sample grid shows
    size_t rows = 4;
    if (!by_nfe.empty()) {
      rows = 1;
      for (const auto& [nfe, r] : by_nfe) rows = std::max(rows, r.size());
    }
    write_image_grid(ctx.out_dir + "/data.png", read_operand_images(*data, int64_t(rows) * seeds, 3), seeds);
    files.push_back("data.png");
    md += fmt::format("\nData for comparison: the first {} images of {}.\n\n![data](data.png)\n", int64_t(rows) * seeds,
                      data->text);
  }
  for (const auto& [nfe, rows] : by_nfe) {
    std::vector<at::Tensor> images;
    md += fmt::format("\n### NFE {}\n\n", nfe);
    for (size_t r = 0; r < rows.size(); ++r) {
      images.push_back(rows[r].images);
      md += fmt::format("{}. {}\n", r + 1, rows[r].label);
    }
    const std::string name = fmt::format("samples_nfe{}.png", nfe);
    write_image_grid(ctx.out_dir + "/" + name, at::cat(images), seeds);
    files.push_back(name);
    md += fmt::format("\n![samples at NFE {}]({})\n", nfe, name);
  }
  return md;
}

}  // namespace

StageKind report_stage() {
  StageKind k;
  k.name = "report";
  k.description = "metrics.csv, report.md (methods × NFE tables) and plots from evaluate stages";
  k.version = 1;
  k.gathers = true;
  k.needs_model = false;
  k.schema = report_schema();
  k.parse = [](MapReader& r, const YamlSource& src, const SpecContext&) {
    const Schema& schema = report_schema();
    r.reject_unknown(key_names(schema));
    require_keys(r, schema);
    r.get_string("kind");
    StageDef d;
    std::optional<ImageOperand> data;
    if (r.has("data_grid") && !r.node("data_grid").Scalar().empty()) {
      data = read_image_operand(r, "data_grid", src);
      if (data->kind == ImageOperand::Kind::Statistics) fail("{}: data_grid needs images", r.where("data_grid"));
    }
    d.typed = data;
    if (!r.has("inputs")) fail("{}: {} is missing 'inputs' (evaluate stage names)", r.where("inputs"), r.path(""));
    YAML::Node in = r.node("inputs");
    if (!in.IsSequence() || in.size() == 0)
      fail("{}: inputs must be a non-empty list of stage names", r.where("inputs"));
    std::vector<std::string> names;
    for (const auto& n : in) {
      d.refs.push_back({n.Scalar(), src.where(n, r.path("inputs")), "evaluate"});
      names.push_back(n.Scalar());
    }
    std::vector<std::string> analyses;
    if (r.has("analyses")) {
      YAML::Node a = r.node("analyses");
      if (!a.IsSequence()) fail("{}: analyses must be a list of analyze_trajectories stage names", r.where("analyses"));
      for (const auto& n : a) {
        d.refs.push_back({n.Scalar(), src.where(n, r.path("analyses")), "analyze_trajectories"});
        analyses.push_back(n.Scalar());
      }
    }
    std::vector<int64_t> nfe;
    if (r.has("nfe")) {
      for (const auto& n : r.node("nfe")) {
        try {
          nfe.push_back(n.as<int64_t>());
        } catch (const YAML::Exception&) {
          fail("{}: nfe entries must be integers", src.where(n, r.path("nfe")));
        }
      }
    }
    d.params = {{"inputs", names},
                {"title", read_choice(r, schema, "title")},
                {"nfe", nfe},
                {"grid_seeds", read_int(r, schema, "grid_seeds")}};
    if (data) d.params["data_grid"] = operand_fingerprint(*data);  // the images, not where they lie
    if (!analyses.empty()) d.params["analyses"] = analyses;
    r.finish(key_names(schema));
    return d;
  };
  k.run = [](StageRun& ctx) -> std::pair<std::vector<std::string>, json> {
    std::vector<std::string> files_of_analyses;
    std::vector<MetricRow> rows;
    std::string geometry;
    for (const Job* d : ctx.deps) {  // evaluate and analysis stages: the plan checked the references' kinds
      if (d->kind->name == "analyze_trajectories") {
        geometry += geometry_section(ctx, *d, files_of_analyses);
        continue;
      }
      std::ifstream f(ctx.cache.dir(d->key) + "/rows.json");
      json j = json::parse(f);
      for (const auto& row : j) {
        MetricRow m = row_from_json(row);
        m.stage = d->label;
        rows.push_back(m);
      }
    }
    const json& p = ctx.job.params;
    std::vector<std::string> files = {"metrics.csv", "report.md", "results.json"};
    files.insert(files.end(), files_of_analyses.begin(), files_of_analyses.end());
    write_text(ctx.out_dir + "/metrics.csv", metrics_csv(rows));
    std::vector<std::string> metrics, plots;
    for (const auto& r : rows)
      if (std::find(metrics.begin(), metrics.end(), r.metric) == metrics.end()) metrics.push_back(r.metric);
    for (const auto& m : metrics) {
      std::string warning;
      std::string png = plot_metric(ctx.out_dir, "plot_" + m, m, rows, &warning);
      if (!warning.empty()) ctx.log("  report: warning: " + warning);
      if (png.empty()) continue;
      plots.push_back(png);
      for (const char* ext : {".png", ".gp", ".dat"}) files.push_back("plot_" + m + ext);
      if (m == "wall_seconds") continue;
      png = plot_metric_vs_time(ctx.out_dir, "time_" + m, m, rows, &warning);
      if (png.empty()) continue;
      plots.push_back(png);
      for (const char* ext : {".png", ".gp", ".dat"}) files.push_back("time_" + m + ext);
    }
    const auto& data = stage_params<std::optional<ImageOperand>>(ctx.job);
    const std::string grids = p["grid_seeds"].get<int64_t>() > 0 ? sample_grids(ctx, p["grid_seeds"], data, files) : "";
    write_text(ctx.out_dir + "/report.md",
               report_markdown(p["title"].get<std::string>(), rows, p["nfe"].get<std::vector<int64_t>>(), plots) +
                   grids + geometry);
    json res = json::array();
    for (const auto& r : rows) res.push_back(to_json(r));
    write_text(ctx.out_dir + "/results.json", res.dump(1));
    for (const auto& e : fs::directory_iterator(ctx.out_dir))
      if (e.path().extension() == ".log") fs::remove(e.path());
    return {files, json{{"rows", rows.size()}, {"plots", plots}}};
  };
  k.publish = [](StageRun& ctx) {
    if (!ctx.run_dir) return;
    for (const auto& e : fs::directory_iterator(ctx.out_dir)) {
      std::string name = e.path().filename().string();
      if (name == "meta.json") continue;
      fs::copy_file(e.path(), ctx.run_dir->file(name), fs::copy_options::overwrite_existing);
    }
  };
  return k;
}

}  // namespace dsx
