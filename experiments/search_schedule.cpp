// Stage `search_schedule`: GITS (learned/gits.h) — a student grid chosen from a teacher stage's fine grid by
// dynamic programming over one-step Euler costs, optionally with GITS's AFS insertion. The artifact is the
// σ grid (schedule.json, schedule.yaml as `dsx gits` writes it) and the cost matrix (cost.h5); evaluate uses
// it through `schedule: {kind: learned, from: STAGE}`. Sweeps over nfe and coeff share the teacher.
//
//   teacher (fine grid, m: 0, directions: true) ──► search_schedule [nfe, coeff] ──► evaluate (learned)
#include <ATen/ATen.h>

#include <filesystem>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "amed/solver_catalog.h"
#include "amed/teacher_store.h"
#include "core/error.h"
#include "experiments/stages.h"
#include "learned/gits.h"
#include "learned/learned_schedule.h"
#include "pipeline/run_dir.h"
#include "pipeline/sample_config.h"
#include "solvers/solver.h"
#include "store/h5.h"
#include "store/tensor_h5.h"

namespace dsx {
namespace {

constexpr int64_t kCostBatch = 256;  // trajectories per cost-matrix batch (memory, not results)

const Schema& search_schema() {
  static const Schema schema = {
      opt::choice("kind", {"search_schedule"}, "search_schedule", "the stage kind"),
      opt::reference("teacher", "teacher",
                     "a teacher stage with directions: true; its schedule is the fine grid searched (GITS: "
                     "61-point polynomial ρ = 7, solver ipndm, m: 0, 256 seeds)"),
      opt::integer("nfe", 5, 1, 1000,
                   "student steps K (the NFE of one-evaluation-per-step solvers: euler, ipndm, dpmpp, unipc, deis): "
                   "the grid has K + 1 points, K + 2 with afs"),
      opt::number("coeff", 1.15, 0.0, 100.0, "the DP's weight growth per step (official 1.15; 1.20 for SD)")
          .exclusive_min(),
      opt::choice("metric", {"dev", "l1", "l2"}, "dev",
                  "the one-step cost: dev (signed deviation from the trajectory's chord, official default), l1, l2"),
      opt::flag("afs", false,
                "GITS's AFS insertion: one more point after σ_max, chosen by the student's error with AFS on the "
                "last afs_samples teacher trajectories (the first step is then analytic: NFE unchanged)"),
      opt::section("student", false, "{name: ipndm}", "the solver that chooses the AFS point (afs only)"),
      opt::integer("afs_samples", 64, 1, 1 << 20, "trajectories the AFS point is chosen on (official: the last round)"),
  };
  return schema;
}

struct SearchSpec {
  int64_t nfe = 5;
  double coeff = 1.15;
  std::string metric = "dev";
  bool afs = false;
  SolverConfig student;
  int64_t afs_samples = 64;
};

SearchSpec read_search(MapReader& r, const YamlSource& src, StageDef& def) {
  const Schema& schema = search_schema();
  r.reject_unknown(key_names(schema));
  require_keys(r, schema);
  r.get_string("kind");
  stage_util::read_ref(r, "teacher", def, "teacher");
  SearchSpec s;
  s.nfe = read_int(r, schema, "nfe");
  s.coeff = read_number(r, schema, "coeff");
  s.metric = read_choice(r, schema, "metric");
  s.afs = read_flag(r, schema, "afs");
  s.student =
      r.has("student") ? read_solver(src, r.node("student"), r.path("student")) : SolverConfig{"ipndm", {}, nullptr};
  s.afs_samples = read_int(r, schema, "afs_samples");
  r.finish(key_names(schema));
  def.params = {{"nfe", s.nfe}, {"coeff", s.coeff}, {"metric", s.metric}, {"afs", s.afs}};
  if (s.afs) {
    json o = json::object();
    for (const auto& [k, v] : s.student.options) o[k] = v.text;
    def.params["student"] = {{"name", s.student.name}, {"options", o}};
    def.params["afs_samples"] = s.afs_samples;
  }
  return s;
}

// GITS's AFS insertion: for k = 1 .. p_1 − 1, the grid with index k inserted after 0, sampled by the student
// with AFS from the trajectories' x_T; keeps the k whose mean L2 distance to the teacher's end is smallest
// (the first on ties).
std::vector<int64_t> insert_afs_point(const SearchSpec& s, const std::vector<int64_t>& path,
                                      const std::vector<double>& grid, const at::Tensor& x_t, const at::Tensor& end,
                                      const Denoiser& model, const std::function<void(const std::string&)>& log) {
  auto options = s.student.options;
  options["afs"] = RawOption{"true", "search_schedule"};
  const std::unique_ptr<Solver> solver = make_solver(s.student.name, options);
  const ModelInfo& info = model.info();
  int64_t best = -1;
  double best_err = std::numeric_limits<double>::infinity();
  for (int64_t k = 1; k < path[1]; ++k) {
    std::vector<int64_t> candidate = path;
    candidate.insert(candidate.begin() + 1, k);
    std::vector<double> sigmas;
    for (int64_t i : candidate) sigmas.push_back(grid[size_t(i)]);
    at::NoGradGuard no_grad;
    const at::Tensor x = solver->sample(model, x_t.to(info.device, info.dtype), sigmas).to(at::kCPU, at::kDouble);
    const double err = (x - end).reshape({x.size(0), -1}).norm(2, {1}).mean().item<double>();
    log(fmt::format("    afs point {} (σ {:.4g}): error {:.6g}", k, grid[size_t(k)], err));
    if (err < best_err) best_err = err, best = k;
  }
  if (best < 0) return path;  // p_1 = 1: nothing fits between
  std::vector<int64_t> out = path;
  out.insert(out.begin() + 1, best);
  return out;
}

}  // namespace

StageKind search_schedule_stage() {
  StageKind k;
  k.name = "search_schedule";
  k.description = "GITS: a student σ grid chosen from a teacher's fine grid by dynamic programming";
  k.version = 1;
  k.schema = search_schema();
  k.parse = [](MapReader& r, const YamlSource& src, const SpecContext&) {
    StageDef d;
    d.typed = read_search(r, src, d);
    return d;
  };
  k.run = [](StageRun& ctx) -> std::pair<std::vector<std::string>, json> {
    const Job& teacher = *ctx.deps.at(0);
    const SearchSpec& s = stage_params<SearchSpec>(ctx.job);
    const TeacherSpec& ts = teacher_manifest(teacher);
    if (!ts.directions)
      fail("{}: teacher stage '{}' keeps no directions: set directions: true in it (GITS's cost needs them)",
           ctx.job.label, teacher.label);
    const ModelPtr model = ctx.job.run_model();
    const std::vector<double> grid = make_schedule(ts.student_schedule, model->info().process.get());
    const int64_t n = int64_t(grid.size());
    if (s.nfe > n - 1)
      fail("{}: nfe = {} steps do not fit the teacher's grid of {} points (at most {})", ctx.job.label, s.nfe, n,
           n - 1);
    cache::Lock reading = ctx.cache.lock(teacher.key, -1, cache::LockMode::Shared);
    TeacherShards shards(ctx.cache, teacher.key, ts.seeds);
    GitsCost cost(grid, gits_metric(s.metric));
    for (int64_t first = 0; first < shards.size(); first += kCostBatch) {
      const int64_t b = std::min(kCostBatch, shards.size() - first);
      cost.add(shards.states(first, b, at::kDouble), shards.directions(first, b, at::kDouble));
    }
    const at::Tensor matrix = cost.matrix();
    const GitsPath found = gits_search(matrix, s.nfe, s.coeff);
    std::vector<int64_t> indices = found.indices;
    ctx.log(fmt::format("  {}: {} trajectories, DP value {:.6g}, indices [{}]", ctx.job.label, cost.count(), found.cost,
                        fmt::join(indices, ", ")));
    if (s.afs) {
      const int64_t m = std::min(s.afs_samples, shards.size());
      const at::Tensor states = shards.states(shards.size() - m, m, at::kDouble);
      indices = insert_afs_point(s, indices, grid, states.select(1, 0), states.select(1, n - 1), *model, ctx.log);
    }
    LearnedSchedule out;
    out.method = "gits";
    out.indices = indices;
    for (int64_t i : indices) out.sigmas.push_back(grid[size_t(i)]);
    out.afs = s.afs;
    out.info = {{"metric", s.metric},           {"coeff", s.coeff},      {"nfe", s.nfe}, {"dp_value", found.cost},
                {"trajectories", cost.count()}, {"teacher_sigmas", grid}};
    write_learned_schedule(ctx.out_dir, out);
    h5::File f = h5::File::create(ctx.out_dir + "/cost.h5");
    h5::write_tensor(f, "cost", matrix);
    h5::write_tensor(f, "teacher_sigmas", at::tensor(grid, at::kDouble));
    ctx.log(fmt::format("  {}: σ = [{}]", ctx.job.label, fmt::join(out.sigmas, ", ")));
    return {{"schedule.json", "schedule.yaml", "cost.h5"}, json{{"indices", indices}}};
  };
  k.publish = [](StageRun& ctx) {
    if (ctx.run_dir)
      std::filesystem::copy_file(ctx.out_dir + "/schedule.yaml", ctx.run_dir->file(ctx.job.label + ".schedule.yaml"),
                                 std::filesystem::copy_options::overwrite_existing);
  };
  return k;
}

}  // namespace dsx
