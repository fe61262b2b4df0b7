// Stage `evaluate`: every method (solver × schedule) at every requested NFE, and the AMED predictors of
// `predictors` on their own schedules, scored with registry metrics against the exact ODE solution of the
// same seeds (exact testbeds). Output: rows.json (long form).
#include <chrono>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "amed/predictor.h"
#include "core/error.h"
#include "core/noise.h"
#include "experiments/stages.h"
#include "metrics/registry.h"
#include "pipeline/report.h"
#include "pipeline/sample_config.h"
#include "solvers/solver.h"

namespace dsx {
namespace {

const std::vector<std::string> kKeys = {"kind", "predictors", "seeds", "metrics", "methods", "schedule", "nfe"};

struct Method {
  SolverConfig solver;
  ScheduleSpec schedule;
};

struct EvalSpec {
  std::vector<std::string> predictors;
  std::vector<int64_t> seeds;
  std::vector<std::string> metrics;
  std::vector<Method> methods;
  std::vector<int64_t> nfe;
};

ScheduleSpec read_sched(const YamlSource& src, const YAML::Node& node, const std::string& path, const ModelInfo& info) {
  YAML::Node n = YAML::Clone(node);
  if (n.IsMap() && !n["num_steps"] && !(n["kind"] && n["kind"].Scalar() == "explicit")) n["num_steps"] = 8;
  return read_schedule(src, n.IsMap() ? n : node, path, info);
}

EvalSpec read_eval(MapReader& r, const YamlSource& src, const LoadedModel& model, StageDef& def) {
  r.reject_unknown(kKeys);
  r.get_string("kind");
  EvalSpec e;
  const ModelInfo& info = model.model->info();
  if (r.has("predictors")) {
    YAML::Node p = r.node("predictors");
    if (!p.IsSequence()) fail("{}: predictors must be a list of train_amed stage names", r.where("predictors"));
    for (const auto& n : p) {
      e.predictors.push_back(n.Scalar());
      def.refs.push_back({n.Scalar(), src.where(n, r.path("predictors")), "train_amed"});
    }
  }
  if (!r.has("seeds")) fail("{}: {} is missing 'seeds'", r.where("seeds"), r.path(""));
  e.seeds = stage_util::read_seeds(r, "seeds");
  if (r.has("metrics")) {
    YAML::Node m = r.node("metrics");
    if (!m.IsSequence()) fail("{}: metrics must be a list of metric names", r.where("metrics"));
    for (const auto& n : m) {
      try {
        const MetricEntry& me = find_metric(n.Scalar());
        if (me.needs_reference && !model.exact)
          fail("metric '{}' needs the exact reference, which this model does not provide", me.name);
      } catch (const Error& err) {
        fail("{}: {}", src.where(n, r.path("metrics")), err.what());
      }
      e.metrics.push_back(n.Scalar());
    }
  } else {
    e.metrics = {"rmse_to_reference"};
  }
  ScheduleSpec default_schedule;
  default_schedule.sigma_min = info.sigma_min;
  default_schedule.sigma_max = info.sigma_max;
  if (r.has("schedule")) default_schedule = read_sched(src, r.node("schedule"), r.path("schedule"), info);
  if (r.has("methods")) {
    YAML::Node ms = r.node("methods");
    if (!ms.IsSequence()) fail("{}: methods must be a list of {{solver, schedule}} or 'all'", r.where("methods"));
    for (size_t i = 0; i < ms.size(); ++i) {
      std::string path = fmt::format("{}[{}]", r.path("methods"), i);
      if (ms[i].IsScalar() && ms[i].Scalar() == "all") {
        for (const auto& s : solver_entries())
          if (!s.needs_file) e.methods.push_back({{s.name, {}}, default_schedule});
        continue;
      }
      MapReader mr(src, ms[i], path);
      mr.reject_unknown({"solver", "schedule"});
      if (!mr.has("solver")) fail("{}: {} is missing 'solver'", mr.where("solver"), path);
      Method m{read_solver(src, mr.node("solver"), mr.path("solver")), default_schedule};
      if (solver_entry(m.solver.name).needs_file)
        fail("{}: solver '{}' needs a trained predictor: list its train_amed stage under 'predictors'",
             mr.where("solver"), m.solver.name);
      if (mr.has("schedule")) m.schedule = read_sched(src, mr.node("schedule"), mr.path("schedule"), info);
      mr.finish({"solver", "schedule"});
      e.methods.push_back(m);
    }
  }
  if (r.has("nfe")) {
    YAML::Node ns = r.node("nfe");
    if (!ns.IsSequence()) fail("{}: nfe must be a list of integers", r.where("nfe"));
    for (const auto& n : ns) {
      try {
        e.nfe.push_back(n.as<int64_t>());
      } catch (const YAML::Exception&) {
        fail("{}: nfe entries must be integers, got '{}'", src.where(n, r.path("nfe")), n.Scalar());
      }
      if (e.nfe.back() < 1) fail("{}: nfe must be >= 1", src.where(n, r.path("nfe")));
    }
  } else {
    e.nfe = {3, 5, 7, 9};
  }
  r.finish(kKeys);
  json methods = json::array();
  for (const auto& m : e.methods) {
    json o = json::object();
    for (const auto& [k, v] : m.solver.options) o[k] = v.text;
    json s = stage_util::schedule_json(m.schedule);
    s.erase("num_steps");
    methods.push_back({{"solver", m.solver.name}, {"options", o}, {"schedule", s}});
  }
  def.params = {{"predictors", e.predictors}, {"seeds", e.seeds.size()}, {"first_seed", e.seeds.front()},
                {"seed_hash", cache::CacheKey::of("seeds", 1, e.seeds, {}, "", "").hex},
                {"metrics", e.metrics}, {"methods", methods}, {"nfe", e.nfe}};
  return e;
}

// Grid points giving exactly `nfe` evaluations: afs off first, then on. 0 when none.
int points_for(const Method& m, int64_t nfe, bool* afs) {
  for (bool a : {false, true}) {
    auto opts = m.solver.options;
    opts["afs"] = RawOption{a ? "true" : "false", "evaluate"};
    std::unique_ptr<Solver> s;
    try {
      s = make_solver(m.solver.name, opts);
    } catch (const Error&) {
      continue;
    }
    for (int n = std::max(2, s->min_points()); n <= 4 * nfe + 4; ++n)
      if (s->expected_nfe(n) == nfe) {
        *afs = a;
        return n;
      }
  }
  return 0;
}

}  // namespace

StageKind evaluate_stage() {
  StageKind k;
  k.name = "evaluate";
  k.description = "sample every method at every NFE and score it against the exact solution";
  k.version = 1;
  k.parse = [](MapReader& r, const YamlSource& src, const LoadedModel& model) {
    StageDef d;
    read_eval(r, src, model, d);
    return d;
  };
  k.run = [](StageRun& ctx) -> std::pair<std::vector<std::string>, json> {
    LoadedModel model = stage_util::model_of(ctx.job);
    MapReader r(*ctx.job.src, ctx.job.node, ctx.job.key_path);
    StageDef d;
    EvalSpec e = read_eval(r, *ctx.job.src, model, d);
    const at::Device device = stage_util::device_of(ctx.job);
    const at::ScalarType dtype = stage_util::dtype_of(ctx.job);
    Denoiser& net = *model.model;
    net.to(dtype, device);
    at::Tensor z = seeded_noise(e.seeds, net.info().sample_shape, at::TensorOptions().dtype(at::kDouble));
    std::map<std::pair<double, double>, at::Tensor> refs;
    std::vector<MetricRow> rows;
    auto run_one = [&](const std::string& solver_name, const std::map<std::string, RawOption>& opts,
                       const std::vector<double>& sigmas, const std::string& schedule, const std::string& predictor) {
      auto solver = make_solver(solver_name, opts);
      check_grid(*solver, sigmas, solver_name);
      at::Tensor xT = sigmas.front() * z;
      CountingDenoiser counted(net);
      at::Tensor x = solver->sample(counted, xT.to(device, dtype), sigmas).cpu().to(at::kDouble);
      at::Tensor ref;
      if (model.exact) {
        auto key = std::make_pair(sigmas.front(), sigmas.back());
        if (!refs.count(key)) refs[key] = model.exact->ode_solution(xT, sigmas.front(), sigmas.back());
        ref = refs[key];
      }
      for (const auto& metric : e.metrics) {
        MetricRow row{ctx.job.label, solver_name, schedule, predictor, metric, counted.nfe(), 0.0};
        row.value = compute_metric(metric, x, ref, &net);
        rows.push_back(row);
      }
    };
    for (const auto& m : e.methods)
      for (int64_t nfe : e.nfe) {
        bool afs = false;
        int n = points_for(m, nfe, &afs);
        if (n == 0) {
          ctx.log(fmt::format("  {}: {} cannot take exactly {} NFE; skipped", ctx.job.label, m.solver.name, nfe));
          continue;
        }
        ScheduleSpec s = m.schedule;
        s.num_steps = n;
        auto opts = m.solver.options;
        opts["afs"] = RawOption{afs ? "true" : "false", "evaluate"};
        run_one(m.solver.name, opts, make_schedule(s, net.info().process.get()), s.kind, "");
      }
    for (size_t i = 0; i < e.predictors.size(); ++i) {
      const Job& p = *ctx.deps.at(i);
      if (p.kind->name != "train_amed")
        fail("{}: predictors must name train_amed stages; '{}' is a {} stage", ctx.job.key_path, p.stage, p.kind->name);
      std::string file = ctx.cache.dir(p.key) + "/predictor.h5";
      LoadedPredictor lp = load_predictor(file);
      if (!lp.settings) fail("{}: predictor file carries no sampling settings", file);
      const AmedSettings& st = *lp.settings;
      std::map<std::string, RawOption> opts = {{"amed.predictor", {file, p.label}}, {"afs", {st.afs ? "true" : "false", p.label}}};
      run_one(st.student, opts, make_schedule(st.schedule, net.info().process.get()), st.schedule.kind, p.label);
    }
    json out = json::array();
    for (const auto& row : rows) out.push_back(to_json(row));
    std::ofstream(ctx.out_dir + "/rows.json") << out.dump(1);
    ctx.log(fmt::format("  {}: {} metric rows", ctx.job.label, rows.size()));
    return {{"rows.json"}, json{{"rows", rows.size()}}};
  };
  return k;
}

}  // namespace dsx
