// Stage `train_epd`: an EPD solver (learned/epd.h) — K parallel intermediate directions per step, their
// (r, w, c, a) learned end to end against a teacher's end points (learned/endpoint_fit.h), the best on held-out
// trajectories kept. The artifact is epd.h5 (`solver: {name: epd, epd.params: FILE}` samples it); evaluate
// scores it through `predictors: [STAGE]`, its rows at the total model calls, the sequential rounds in options.
//
//   teacher (solver: {name: exact}, 2 points, m: 0) ──► train_epd [nfe, k] ──► evaluate (predictors)
#include <ATen/ATen.h>

#include <fmt/format.h>

#include "core/error.h"
#include "experiments/fit_stage.h"
#include "experiments/stages.h"
#include "learned/epd.h"
#include "pipeline/fit_config.h"
#include "pipeline/sample_config.h"
#include "pipeline/schema.h"

namespace dsx {
namespace {

struct EpdSpec {
  int64_t nfe = 5, k = 2;
  bool afs = true;
  ScheduleSpec schedule;
  double scale_c = 0.1, scale_a = 0.1;
  FitSettings fit;
  int64_t steps() const { return (nfe + (afs ? 1 : 0)) / (1 + k); }
};

const Schema& epd_schema() {
  static const Schema schema = [] {
    Schema s = {
        opt::choice("kind", {"train_epd"}, "train_epd", "the stage kind"),
        opt::reference("teacher", "teacher",
                       "a teacher stage: its first and last states are the (x_T, target) pairs (recommended: solver: "
                       "{name: exact}, a 2-point grid, m: 0)"),
        opt::integer("nfe", 5, 1, 1000,
                     "total model calls per sample, (steps)(1 + k) − afs: it must come out whole (k = 2, afs: 5, 8, "
                     "11; k = 1, afs: 5, 7, 9)"),
        opt::integer("k", 2, 1, 16, "parallel intermediate points per step (EPD: 2; 1 is AMED-Solver's structure)"),
        opt::flag("afs", true, "analytic first direction (no model call at σ_max), as EPD's CIFAR-10 predictors"),
        opt::section("schedule", false, "{kind: polynomial, rho: 7}",
                     "the step grid's family (EPD: time_uniform, rho: 1); its σ range must be the teacher's"),
        opt::number("scale_c", 0.1, 0.0, 1.0, "c ∈ 1 ± scale_c (direction scale)").exclusive_min(),
        opt::number("scale_a", 0.1, 0.0, 1.0, "a ∈ 1 ± scale_a (model-time scale)").exclusive_min(),
    };
    for (const auto& key : fit_settings_schema()) s.push_back(key);
    return s;
  }();
  return schema;
}

EpdSpec read_epd(MapReader& r, const YamlSource& src, const ModelInfo& info, StageDef& def) {
  const Schema& schema = epd_schema();
  r.reject_unknown(key_names(schema));
  require_keys(r, schema);
  r.get_string("kind");
  stage_util::read_ref(r, "teacher", def, "teacher");
  EpdSpec s;
  s.nfe = read_int(r, schema, "nfe");
  s.k = read_int(r, schema, "k");
  s.afs = read_flag(r, schema, "afs");
  if ((s.nfe + (s.afs ? 1 : 0)) % (1 + s.k) != 0 || s.steps() < 1)
    fail("{}: nfe = {} is not (steps)(1 + k) − afs for k = {}, afs = {}: take {} or {}", r.where("nfe"), s.nfe, s.k,
         s.afs, std::max<int64_t>(1, s.steps()) * (1 + s.k) - (s.afs ? 1 : 0),
         (s.steps() + 1) * (1 + s.k) - (s.afs ? 1 : 0));
  if (r.has("schedule")) {
    s.schedule = read_schedule(src, r.node("schedule"), r.path("schedule"), info, 2);
    if (s.schedule.kind == "explicit") fail("{}: schedule must be a family, not an explicit grid", r.where("schedule"));
  } else {
    s.schedule.kind = "polynomial";
    s.schedule.sigma_min = info.sigma_min;
    s.schedule.sigma_max = info.sigma_max;
  }
  s.schedule.num_steps = int(s.steps()) + 1;
  s.scale_c = read_number(r, schema, "scale_c");
  s.scale_a = read_number(r, schema, "scale_a");
  s.fit = read_fit_settings(r);
  r.finish(key_names(schema));
  def.params = {{"nfe", s.nfe},
                {"k", s.k},
                {"afs", s.afs},
                {"schedule", stage_util::schedule_json(s.schedule)},
                {"scale_c", s.scale_c},
                {"scale_a", s.scale_a},
                {"fit", fit_params(s.fit)}};
  return s;
}

}  // namespace

StageKind train_epd_stage() {
  StageKind k;
  k.name = "train_epd";
  k.description = "EPD: K parallel directions per step, (r, w, c, a) learned end to end against teacher end points";
  k.version = 1;
  k.schema = epd_schema();
  k.collective = true;  // data-parallel over the ranks of a multi-process run
  k.parse = [](MapReader& r, const YamlSource& src, const SpecContext& spec) {
    StageDef d;
    d.typed = read_epd(r, src, spec.model->info(), d);
    return d;
  };
  k.run = [](StageRun& ctx) -> std::pair<std::vector<std::string>, json> {
    const Job& teacher = *ctx.deps.at(0);
    const EpdSpec& s = stage_params<EpdSpec>(ctx.job);
    const ModelPtr model = ctx.job.run_model();
    const TeacherEndPoints pairs = teacher_end_points(ctx, teacher);
    EpdParams p = neutral_epd(make_schedule(s.schedule, model->info().process.get()), s.k, s.afs, s.scale_c, s.scale_a);
    p.schedule = s.schedule.kind;
    if (!same_sigma(p.sigmas.front(), pairs.sigmas.front()) || !same_sigma(p.sigmas.back(), pairs.sigmas.back()))
      fail("{}: the schedule spans σ {} → {}, the teacher '{}' {} → {}: they must match", ctx.job.label,
           p.sigmas.front(), p.sigmas.back(), teacher.label, pairs.sigmas.front(), pairs.sigmas.back());
    ctx.log(
        fmt::format("  {}: EPD, {} steps × (1 + {}) calls{}: {} model calls, {} sequential; {} trajectories ({} held "
                    "out), {} Adam steps of {}",
                    ctx.job.label, p.steps(), s.k, s.afs ? " − 1 (AFS)" : "", p.total_nfe(), p.sequential_nfe(),
                    pairs.x_T.size(0), s.fit.validation, s.fit.iterations, s.fit.batch));
    std::vector<at::Tensor> params = p.tensors();
    for (auto& t : params) t.set_requires_grad(true);
    EpdParams best = p;
    auto keep = [&] {
      best.r = p.r.detach().clone();
      best.w = p.w.detach().clone();
      best.c = p.c.detach().clone();
      best.a = p.a.detach().clone();
    };
    const at::ScalarType dtype = model->info().dtype;
    const FitResult r = fit_endpoints(
        s.fit, params, [&](const at::Tensor& x) { return epd_sample(*model, x, p); }, pairs.x_T.to(dtype),
        pairs.target.to(dtype), keep, fit_logger(ctx, s.fit), dist::DataParallel{ctx.group});
    save_epd(ctx.out_dir + "/epd.h5", best);
    std::vector<std::string> files = {"epd.h5"};
    for (const auto& f :
         write_fit_curve(ctx, r, fmt::format("{}: EPD k = {}, {} model calls", ctx.job.label, s.k, p.total_nfe())))
      files.push_back(f);
    ctx.log(fmt::format("  {}: validation RMSE {:.5g} → {:.5g} (step {})", ctx.job.label, r.init_rmse, r.best_rmse,
                        r.best_iteration));
    return {files, json{{"init_validation_rmse", r.init_rmse},
                        {"validation_rmse", r.best_rmse},
                        {"total_nfe", p.total_nfe()},
                        {"sequential_nfe", p.sequential_nfe()}}};
  };
  return k;
}

}  // namespace dsx
