// Stage `evaluate`: every method (solver × schedule) at every requested NFE, and the AMED predictors of
// `predictors` on their own schedules, scored with registry metrics against the exact ODE solution of the
// same seeds (exact testbeds) or against exact data samples (distribution metrics), with the NFE counted
// and the sampling wall time. Each (method, NFE) is one work item through parallel workers → a sequencer →
// one serial writer (core/ordered_pipeline.h). Output: rows.json (long form) and optionally samples.h5.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "amed/predictor.h"
#include "amed/solver_catalog.h"
#include "core/error.h"
#include "core/noise.h"
#include "core/ordered_pipeline.h"
#include "core/progress.h"
#include "dist/group.h"
#include "experiments/image_fd.h"
#include "experiments/stages.h"
#include "learned/epd.h"
#include "learned/learned_schedule.h"
#include "learned/retimed_model.h"
#include "metrics/frechet.h"
#include "metrics/registry.h"
#include "models/reference_ode.h"
#include "pipeline/ode_reference.h"
#include "pipeline/report.h"
#include "pipeline/sample_config.h"
#include "solvers/solver.h"
#include "store/h5.h"
#include "store/tensor_h5.h"

namespace dsx {
namespace {

constexpr int kDefaultNumSteps = 8;  // grid points when a schedule names none (evaluate sets them per NFE)
constexpr int64_t kDefaultDataSamples = 2048;
const std::vector<int64_t> kDefaultNfe = {3, 5, 7, 9};

const Schema& evaluate_schema() {
  static const Schema schema = {
      opt::choice("kind", {"evaluate"}, "evaluate", "the stage kind"),
      opt::references("predictors", "train_amed|train_epd", false,
                      "trained AMED predictors and EPD solvers, each sampled on its own schedule"),
      opt::seeds("seeds", "the evaluated seeds (x_T = σ_max·z(seed)); the same seeds for every method"),
      opt::names("metrics", "[rmse_to_reference]", "registry metrics (dsx solvers lists them)"),
      opt::section("methods", false, "[]", "a list of {solver, schedule} or 'all' (every solver without a file)"),
      opt::section("schedule", false, "{kind: polynomial}", "default schedule of the methods (num_steps set per NFE)"),
      opt::int_list("nfe", fmt::format("[{}]", fmt::join(kDefaultNfe, ", ")),
                    "model evaluations per sample; each method on the grid that gives exactly it"),
      opt::integer("data_samples", kDefaultDataSamples, 2, 1 << 24,
                   "exact data samples for the metrics against data (frechet, sliced_wasserstein)"),
      opt::section("fd", false, "",
                   "Fréchet distance of image features to a reference set: {features: {kind, file}, reference, "
                   "floor} (dsx run --explain evaluate.fd)"),
      opt::flag("save_samples", false, "also write samples.h5 (every item's samples)"),
      opt::number("reference_rtol", kNetworkReferenceRtol, 1e-13, 1e-2,
                  "tolerance of the adaptive reference (Fehlberg 7(8); Dormand–Prince from 1e-7 up) of models without "
                  "an exact solution "
                  "(networks); looser is faster (a light run), and it stays in the reference's cache key"),
      opt::integer("workers", 1, 1, 256, "parallel work items (LibTorch at one thread each; not part of the key)"),
  };
  return schema;
}
// Exact data samples use their own seeds, far from any latent seed, so they are independent of the samples.
constexpr int64_t kDataSeedBase = int64_t(1) << 40;

// A method's schedule: a schedule section, or `schedule: {kind: learned, from: STAGE}` — the grid a
// search_schedule (GITS) or learn_schedule (LD3) stage found (learned_ref: its index among the stage's references),
// sampled as it is: one item at the NFE the grid gives, whatever `nfe` lists (as an explicit schedule is).
struct MethodSchedule {
  ScheduleSpec spec;
  int learned_ref = -1;
  std::string learned_from;
};

struct Method {
  SolverConfig solver;
  MethodSchedule schedule;
  // Built once when the stage is parsed, with afs off and on: every NFE of the method shares them.
  std::shared_ptr<const Solver> without_afs, with_afs;
};

Method make_method(SolverConfig solver, MethodSchedule schedule) {
  Method m{std::move(solver), std::move(schedule), nullptr, nullptr};
  auto with = [&](bool afs) {
    auto opts = m.solver.options;
    opts["afs"] = RawOption{afs ? "true" : "false", "evaluate"};
    return std::shared_ptr<const Solver>(make_solver(m.solver.name, opts));
  };
  auto given = m.solver.options.find("afs");
  const bool afs_given = given != m.solver.options.end();
  // The solver read_solver built already is one of the two when the spec leaves afs alone.
  m.without_afs = m.solver.solver && !afs_given ? m.solver.solver : with(false);
  m.with_afs = with(true);
  return m;
}

struct EvalSpec {
  std::vector<std::string> predictors;
  std::vector<int64_t> seeds;
  std::vector<std::string> metrics;
  std::vector<Method> methods;
  std::vector<int64_t> nfe;
  int64_t data_samples = 0;  // exact data samples for DataSamples metrics (0 when none is asked for)
  std::optional<FdSpec> fd;  // image FD rows ("fd"), when asked for
  bool save_samples = false;
  double reference_rtol = kNetworkReferenceRtol;
  int workers = 1;
};

MethodSchedule read_sched(const YamlSource& src, const YAML::Node& node, const std::string& path, const ModelInfo& info,
                          StageDef& def) {
  MethodSchedule m;
  m.learned_from = stage_util::read_learned_ref(src, node, path, def);
  if (!m.learned_from.empty()) {
    m.learned_ref = int(def.refs.size()) - 1;
    return m;
  }
  m.spec = read_schedule(src, node, path, info, kDefaultNumSteps);
  return m;
}

EvalSpec read_eval(MapReader& r, const YamlSource& src, const Denoiser& model, StageDef& def) {
  const Schema& schema = evaluate_schema();
  r.reject_unknown(key_names(schema));
  require_keys(r, schema);
  r.get_string("kind");
  EvalSpec e;
  const ModelInfo& info = model.info();
  if (r.has("predictors")) {
    YAML::Node p = r.node("predictors");
    if (!p.IsSequence()) fail("{}: predictors must be a list of train_amed stage names", r.where("predictors"));
    for (const auto& n : p) {
      e.predictors.push_back(n.Scalar());
      def.refs.push_back({n.Scalar(), src.where(n, r.path("predictors")), "train_amed|train_epd"});
    }
  }
  e.seeds = stage_util::read_seeds(r, "seeds");
  if (r.has("metrics")) {
    YAML::Node m = r.node("metrics");
    if (!m.IsSequence()) fail("{}: metrics must be a list of metric names", r.where("metrics"));
    for (const auto& n : m) {
      try {
        const MetricEntry& me = find_metric(n.Scalar());
        if (me.reference == MetricReference::DataSamples && !model.data())
          fail("metric '{}' needs exact data samples, which this model cannot draw", me.name);
        if (me.needs_model && !model.density())
          fail("metric '{}' needs a model with an exact data density, which this model is not", me.name);
        if (me.reference == MetricReference::DataSamples) e.data_samples = kDefaultDataSamples;
      } catch (const Error& err) {
        fail("{}: {}", src.where(n, r.path("metrics")), err.what());
      }
      e.metrics.push_back(n.Scalar());
    }
  } else {
    e.metrics = {"rmse_to_reference"};
  }
  MethodSchedule default_schedule;
  default_schedule.spec.sigma_min = info.sigma_min;
  default_schedule.spec.sigma_max = info.sigma_max;
  if (r.has("schedule")) default_schedule = read_sched(src, r.node("schedule"), r.path("schedule"), info, def);
  if (r.has("methods")) {
    YAML::Node ms = r.node("methods");
    if (!ms.IsSequence()) fail("{}: methods must be a list of {{solver, schedule}} or 'all'", r.where("methods"));
    for (size_t i = 0; i < ms.size(); ++i) {
      std::string path = fmt::format("{}[{}]", r.path("methods"), i);
      if (ms[i].IsScalar() && ms[i].Scalar() == "all") {
        for (const auto& s : solver_entries())
          if (!s.needs_file) e.methods.push_back(make_method({s.name, {}, nullptr}, default_schedule));
        continue;
      }
      MapReader mr(src, ms[i], path);
      mr.reject_unknown({"solver", "schedule"});
      if (!mr.has("solver")) fail("{}: {} is missing 'solver'", mr.where("solver"), path);
      SolverConfig solver = read_solver(src, mr.node("solver"), mr.path("solver"));
      if (solver_entry(solver.name).needs_file)
        fail("{}: solver '{}' needs a trained predictor: list its train_amed stage under 'predictors'",
             mr.where("solver"), solver.name);
      MethodSchedule schedule =
          mr.has("schedule") ? read_sched(src, mr.node("schedule"), mr.path("schedule"), info, def) : default_schedule;
      mr.finish({"solver", "schedule"});
      e.methods.push_back(make_method(std::move(solver), std::move(schedule)));
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
    e.nfe = kDefaultNfe;
  }
  if (r.has("data_samples")) {
    if (e.data_samples == 0)
      fail("{}: data_samples is only used by metrics against exact data samples (frechet, sliced_wasserstein)",
           r.where("data_samples"));
    e.data_samples = read_int(r, schema, "data_samples");
  }
  if (r.has("fd")) e.fd = read_fd(r, "fd", src, info.sample_shape);
  e.save_samples = read_flag(r, schema, "save_samples");
  e.reference_rtol = read_number(r, schema, "reference_rtol");
  e.workers = int(read_int(r, schema, "workers"));
  r.finish(key_names(schema));
  json methods = json::array();
  for (const auto& m : e.methods) {
    json o = json::object();
    for (const auto& [k, v] : m.solver.options) o[k] = v.text;
    json s = m.schedule.learned_ref >= 0 ? json{{"kind", "learned"}, {"from", m.schedule.learned_from}}
                                         : stage_util::schedule_json(m.schedule.spec);
    s.erase("num_steps");
    methods.push_back({{"solver", m.solver.name}, {"options", o}, {"schedule", s}});
  }
  def.params = {{"predictors", e.predictors},
                {"seeds", e.seeds.size()},
                {"first_seed", e.seeds.front()},
                {"seed_hash", stage_util::seed_hash(e.seeds)},
                {"metrics", e.metrics},
                {"methods", methods},
                {"nfe", e.nfe}};
  // workers is left out: the writer sees items in order and each item's numbers do not depend on it.
  if (e.data_samples) def.params["data_samples"] = e.data_samples;
  if (e.fd) def.params["fd"] = e.fd->key();
  if (e.save_samples) def.params["save_samples"] = true;
  if (e.reference_rtol != kNetworkReferenceRtol) def.params["reference_rtol"] = e.reference_rtol;
  return e;
}

// One (method, NFE) or one trained predictor: what a worker samples.
struct WorkItem {
  std::string solver, schedule, predictor, options_text;
  std::shared_ptr<const Solver> sampler;  // shared by the items of one method
  std::vector<double> sigmas;
  std::vector<double> model_sigmas;  // a decoupled learned grid's model σ (RetimedDenoiser); empty: sigmas
};

struct ItemResult {
  std::vector<MetricRow> rows;
  at::Tensor samples;  // float32 CPU, only when saved
};

struct EvalReferences {
  at::Tensor latents;                                   // [N, *shape] float64 unit noise
  std::map<std::pair<double, double>, at::Tensor> ode;  // (σ_max, σ_min) → exact ODE solution
  at::Tensor data;                                      // exact data samples, or undefined
  std::optional<ImageFeatures> features;                // the fd section's extractor
  GaussianFit fd_reference;                             // its reference statistics
};

// "k=v k=v" of the options the spec set (sorted: a std::map), so two variants of a solver get two rows.
std::string options_text(const std::map<std::string, RawOption>& options) {
  std::string out;
  for (const auto& [k, v] : options) out += (out.empty() ? "" : " ") + k + "=" + v.text;
  return out;
}

std::vector<WorkItem> work_items(const EvalSpec& e, const StageRun& ctx, const Denoiser& net) {
  std::vector<WorkItem> items;
  const NoiseProcess* process = net.info().process.get();
  for (const auto& m : e.methods) {
    if (m.schedule.learned_ref >= 0) {  // the grid is fixed: the solver's NFE on it
      const Job& stage = *ctx.deps.at(size_t(m.schedule.learned_ref));
      const LearnedSchedule ls = read_learned_schedule(ctx.cache.dir(stage.key));
      items.push_back({m.solver.name, kLearnedSchedulePrefix + stage.stage, "", options_text(m.solver.options),
                       ls.afs ? m.with_afs : m.without_afs, ls.sigmas, ls.model_sigmas});
      continue;
    }
    const ScheduleSpec& spec = m.schedule.spec;
    if (spec.kind == "explicit") {  // likewise a given grid: the solver as the spec wrote it, afs included
      items.push_back({m.solver.name,
                       spec.kind,
                       "",
                       options_text(m.solver.options),
                       m.solver.solver ? m.solver.solver : m.without_afs,
                       spec.sigmas,
                       {}});
      continue;
    }
    for (int64_t nfe : e.nfe) {
      const NfePlan plan = plan_for_nfe(m.without_afs, m.with_afs, nfe);
      if (!plan.solver) {
        ctx.log(fmt::format("  {}: {} cannot take exactly {} NFE; skipped", ctx.job.label, m.solver.name, nfe));
        continue;
      }
      ScheduleSpec s = spec;
      s.num_steps = plan.points;
      items.push_back(
          {m.solver.name, s.kind, "", options_text(m.solver.options), plan.solver, make_schedule(s, process), {}});
    }
  }
  // Predictors: train_amed and train_epd stages (the plan checked the references' kinds); their artifact is
  // the file. An EPD solver's row is at its total model calls; its sequential rounds are in the options.
  for (size_t i = 0; i < e.predictors.size(); ++i) {
    const Job& p = *ctx.deps.at(i);
    if (p.kind->name == "train_epd") {
      const std::string file = ctx.cache.dir(p.key) + "/epd.h5";
      const EpdParams epd = load_epd(file);
      std::map<std::string, RawOption> opts = {{"epd.params", {file, p.label}},
                                               {"afs", {epd.afs ? "true" : "false", p.label}}};
      items.push_back({"epd",
                       epd.schedule,
                       p.label,
                       fmt::format("k={} sequential_nfe={}", epd.points_per_step(), epd.sequential_nfe()),
                       make_solver("epd", opts),
                       epd.sigmas,
                       {}});
      continue;
    }
    std::string file = ctx.cache.dir(p.key) + "/predictor.h5";
    LoadedPredictor lp = load_predictor(file);
    if (!lp.settings) fail("{}: predictor file carries no sampling settings", file);
    const AmedSettings& st = *lp.settings;
    // The input the predictor was trained on (the stage's own parameter: entries cached before the predictor
    // file recorded it are sampled right too).
    std::map<std::string, RawOption> opts = {{"amed.predictor", {file, p.label}},
                                             {"afs", {st.afs ? "true" : "false", p.label}},
                                             {"amed.features", {p.params.value("features", "model"), p.label}}};
    items.push_back({st.student,
                     st.schedule.kind,
                     p.label,
                     "",
                     make_solver(st.student, opts),
                     make_schedule(st.schedule, process),
                     {}});
  }
  for (const auto& it : items) check_grid(*it.sampler, it.sigmas, it.solver);
  return items;
}

// Seeds [first, first + count) of the exact data samples, in their own range (kDataSeedBase).
std::vector<int64_t> data_seeds(int64_t first, int64_t count) {
  std::vector<int64_t> seeds(static_cast<size_t>(count));
  for (size_t i = 0; i < seeds.size(); ++i) seeds[i] = kDataSeedBase + first + int64_t(i);
  return seeds;
}

EvalReferences references(const EvalSpec& e, const Denoiser& model, const std::vector<WorkItem>& items,
                          const StageRun& ctx) {
  EvalReferences refs;
  refs.latents = seeded_noise(e.seeds, model.info().sample_shape, at::TensorOptions().dtype(at::kDouble));
  bool ode = false;
  for (const auto& name : e.metrics) ode = ode || find_metric(name).reference == MetricReference::OdeSolution;
  if (ode)
    for (const auto& it : items) {
      auto key = std::make_pair(it.sigmas.front(), it.sigmas.back());
      if (!refs.ode.count(key))  // cached in the model's own space, compared as the samples are (decoded)
        refs.ode[key] = model.decode(
            cached_ode_solution(ctx.cache, model, {e.seeds, refs.latents, key.first, key.second, e.reference_rtol},
                                ctx.job.label, ctx.log, nullptr, ctx.group));
    }
  if (e.data_samples) refs.data = model.data()->sample_data(data_seeds(0, e.data_samples));
  if (e.fd) {
    refs.features = load_image_features(e.fd->features_kind, e.fd->features_file);
    refs.fd_reference =
        cached_reference_stats(ctx.cache, *e.fd, *refs.features, model.info().sample_shape.front(), ctx.log);
  }
  return refs;
}

// `model` is the run's (shared, stateless) model in the run's precision; metrics that need the model itself
// (its density) get `exact_model`, the float64 original.
ItemResult run_item(const WorkItem& it, const EvalSpec& e, const EvalReferences& refs, const Denoiser& model,
                    const Denoiser& exact_model, const std::string& stage) {
  const ModelInfo& info = model.info();
  at::Tensor xT = (it.sigmas.front() * refs.latents).to(info.device, info.dtype);
  const SeededBatch seeded(model, e.seeds);  // a conditional model's labels
  const RetimedDenoiser retimed(seeded, it.sigmas, it.model_sigmas.empty() ? it.sigmas : it.model_sigmas);
  CountingDenoiser counted(it.model_sigmas.empty() ? static_cast<const Denoiser&>(seeded) : retimed);
  auto t0 = std::chrono::steady_clock::now();
  at::Tensor x = it.sampler->sample(counted, xT, it.sigmas);
  if (info.device.is_cuda()) x = x.cpu();  // the copy waits for the device: the time covers the whole sampling
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  x = model.decode(x).cpu().to(at::kDouble);  // latent models: metrics see images
  ItemResult res;
  auto row = [&](const std::string& metric, double value) {
    res.rows.push_back({stage, it.solver, it.schedule, it.predictor, metric, counted.nfe(), value, it.options_text});
  };
  for (const auto& metric : e.metrics) {
    const MetricReference kind = find_metric(metric).reference;
    at::Tensor ref = kind == MetricReference::OdeSolution   ? refs.ode.at({it.sigmas.front(), it.sigmas.back()})
                     : kind == MetricReference::DataSamples ? refs.data
                                                            : at::Tensor();
    row(metric, compute_metric(metric, x, ref, &exact_model));
  }
  if (refs.features) row("fd", frechet_distance(image_feature_fit(x, *refs.features, e.fd->batch), refs.fd_reference));
  row("wall_seconds", seconds);
  if (e.save_samples) res.samples = x.to(at::kFloat);
  return res;
}

void write_samples(h5::File& f, int64_t index, const WorkItem& it, const ItemResult& res) {
  const std::string name = fmt::format("item_{:04d}", index);
  h5::write_tensor(f, name, res.samples);
  f.set_attr("solver", it.solver, name);
  f.set_attr("schedule", it.schedule, name);
  f.set_attr("predictor", it.predictor, name);
  f.set_attr("nfe", res.rows.empty() ? int64_t(0) : res.rows.front().nfe, name);
}

// One item's result, from the rank that computed it (`owner`) to every rank: its rows as JSON, then its samples.
ItemResult share_item(dist::Group& group, int owner, const ItemResult& local) {
  json sent;
  if (group.rank() == owner) {
    sent["rows"] = json::array();
    for (const auto& row : local.rows) sent["rows"].push_back(to_json(row));
    sent["shape"] = local.samples.defined() ? json(local.samples.sizes().vec()) : json();
  }
  const json got = json::parse(group.broadcast(sent.dump(), owner));
  ItemResult res;
  for (const auto& row : got["rows"]) res.rows.push_back(row_from_json(row));
  if (!got["shape"].is_null()) {
    res.samples = group.rank() == owner ? local.samples.contiguous()
                                        : at::empty(got["shape"].get<std::vector<int64_t>>(), at::kFloat);
    group.broadcast(res.samples, owner);
  }
  return res;
}

// What exact data samples (as many as the evaluated seeds, independent of the reference) score on the
// metrics that do not pair by seed: the finite-sample floor of the distribution metrics and the
// log-likelihood a perfect sampler has. Rows with solver "exact data" and NFE 0.
void append_data_floor(const EvalSpec& e, const Denoiser& model, const EvalReferences& refs, const std::string& stage,
                       std::vector<MetricRow>& rows) {
  if (e.fd && e.fd->floor) {  // the named images, as many as the samples: FD's own small-sample bias
    const at::Tensor images = read_operand_images(*e.fd->floor, int64_t(e.seeds.size()), model.info().sample_shape[0]);
    const double fd = frechet_distance(image_feature_fit(images, *refs.features, e.fd->batch), refs.fd_reference);
    rows.push_back({stage, kExactData, "", "", "fd", 0, fd, e.fd->floor->text});
  }
  if (!model.data()) return;
  at::Tensor x;
  for (const auto& metric : e.metrics) {
    const MetricReference kind = find_metric(metric).reference;
    if (kind == MetricReference::OdeSolution) continue;
    if (!x.defined()) x = model.data()->sample_data(data_seeds(e.data_samples, int64_t(e.seeds.size())));
    const at::Tensor ref = kind == MetricReference::DataSamples ? refs.data : at::Tensor();
    rows.push_back({stage, kExactData, "", "", metric, 0, compute_metric(metric, x, ref, &model), ""});
  }
}

}  // namespace

StageKind evaluate_stage() {
  StageKind k;
  k.name = "evaluate";
  k.description = "sample every method at every NFE and score it against the exact solution";
  k.version = 2;  // 2: predictors trained with features: zero are sampled with zeros (1 fed them the model's features)
  k.schema = evaluate_schema();
  k.collective = true;  // items are shared over the ranks of a multi-process run
  k.parse = [](MapReader& r, const YamlSource& src, const SpecContext& spec) {
    StageDef d;
    d.typed = read_eval(r, src, *spec.model, d);
    return d;
  };
  k.run = [](StageRun& ctx) -> std::pair<std::vector<std::string>, json> {
    const EvalSpec& e = stage_params<EvalSpec>(ctx.job);
    const Denoiser& exact_model = *ctx.job.model;  // float64: references and the model's density
    const ModelPtr model = ctx.job.run_model();    // the run's precision, shared by every worker
    // A multi-process run: item i is computed by rank i mod ranks; rank 0 receives every result, in item
    // order, and writes the entry. Errors are exchanged before the results, so no rank waits on a failed one.
    dist::Group* group = ctx.group;
    const int ranks = group ? group->size() : 1, rank = group ? group->rank() : 0;
    std::vector<WorkItem> items;
    EvalReferences refs;
    std::map<int64_t, ItemResult> mine;
    std::string error;
    try {
      items = work_items(e, ctx, *model);
      {
        const IntraOpThreads cores(e.workers);          // the per-row reference solve uses them
        refs = references(e, exact_model, items, ctx);  // the ODE reference: chunks shared by the ranks
      }
      std::vector<int64_t> share;
      for (int64_t i = rank; i < int64_t(items.size()); i += ranks) share.push_back(i);
      ProgressLine progress(ctx.job.label, "items", int64_t(share.size()), ctx.log);
      run_ordered<ItemResult>(
          int64_t(share.size()), e.workers,
          [&](int64_t k) {
            return run_item(items[size_t(share[size_t(k)])], e, refs, *model, exact_model, ctx.job.label);
          },
          [&](int64_t k, ItemResult& res) {
            mine[share[size_t(k)]] = std::move(res);
            progress.advance(1);
          });
    } catch (const std::exception& ex) {
      if (!group) throw;
      error = ex.what();
    }
    if (group) group->raise_any(error, "sampling the items");
    std::vector<MetricRow> rows;
    std::optional<h5::AtomicPath> samples_path;
    std::optional<h5::File> samples;
    if (e.save_samples && rank == 0) {
      samples_path.emplace(ctx.out_dir + "/samples.h5");
      samples.emplace(h5::File::create(samples_path->temp()));
    }
    for (int64_t i = 0; i < int64_t(items.size()); ++i) {
      ItemResult res = group ? share_item(*group, int(i % ranks), mine[i]) : std::move(mine[i]);
      if (rank != 0) continue;
      rows.insert(rows.end(), res.rows.begin(), res.rows.end());
      if (samples) write_samples(*samples, i, items[size_t(i)], res);
    }
    if (rank != 0) return {{}, json::object()};
    append_data_floor(e, exact_model, refs, ctx.job.label, rows);
    json out = json::array();
    for (const auto& row : rows) out.push_back(to_json(row));
    std::ofstream(ctx.out_dir + "/rows.json") << out.dump(1);
    std::vector<std::string> files = {"rows.json"};
    if (samples) {
      samples->close();
      samples_path->commit();
      files.push_back("samples.h5");
    }
    ctx.log(fmt::format("  {}: {} metric rows from {} items", ctx.job.label, rows.size(), items.size()));
    return {files, json{{"rows", rows.size()}}};
  };
  return k;
}

}  // namespace dsx
