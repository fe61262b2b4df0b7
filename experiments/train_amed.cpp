// Stage `train_amed`: an AMED predictor trained on the trajectories of a `teacher` stage.
#include <torch/utils.h>

#include <fmt/format.h>

#include "amed/predictor.h"
#include "amed/teacher_store.h"
#include "amed/trainer.h"
#include "core/error.h"
#include "experiments/stages.h"
#include "nets/seeded_init.h"
#include "pipeline/amed_config.h"

namespace dsx {
namespace {

const Schema& train_amed_schema() {
  static const Schema schema = [] {
    Schema s = {opt::choice("kind", {"train_amed"}, "train_amed", "the stage kind"),
                opt::reference("teacher", "teacher", "the teacher stage whose trajectories it trains on")};
    for (const auto& k : train_schema()) s.push_back(k);
    return s;
  }();
  return schema;
}

TrainSpec read_train(MapReader& r, const YamlSource& src, StageDef& def) {
  const Schema& schema = train_amed_schema();
  r.reject_unknown(key_names(schema));
  require_keys(r, schema);
  r.get_string("kind");
  stage_util::read_ref(r, "teacher", def, "teacher");
  TrainSpec spec = read_train_spec(r, src);
  const AmedSettings& s = spec.settings;
  const std::string features = feature_mode_name(spec.features);
  r.finish(key_names(schema));
  def.params = {{"student", s.student},
                {"afs", s.afs},
                {"max_order", s.max_order},
                {"predict_x0", s.predict_x0},
                {"lower_order_final", s.lower_order_final},
                {"scale_dir", s.scale_dir},
                {"scale_time", s.scale_time},
                {"features", features},
                {"batch", spec.batch},
                {"lr", spec.lr},
                {"seed", spec.seed},
                {"max_samples", spec.max_samples}};
  if (!s.base_options.empty()) def.params["base_options"] = s.base_options;  // other bases: their options
  if (spec.joint) def.params["training"] = "joint";  // only then: per-step entries keep their keys
  return spec;
}

}  // namespace

StageKind train_amed_stage() {
  StageKind k;
  k.name = "train_amed";
  k.description = "train an AMED predictor on a teacher stage's trajectories";
  k.version = 1;
  k.schema = train_amed_schema();
  k.collective = true;  // data-parallel over the ranks of a multi-process run
  k.parse = [](MapReader& r, const YamlSource& src, const SpecContext& ctx) {
    StageDef d;
    TrainSpec spec = read_train(r, src, d);
    if (spec.features != FeatureMode::Zero && !ctx.model->has_features())
      fail(
          "{}: features: model, but the model ({}) gives no feature map: give a network's features method "
          "(model.features) or set features: zero",
          r.where("features"), ctx.model->info().kind);
    spec.dtype = ctx.dtype;
    d.typed = spec;
    return d;
  };
  k.run = [](StageRun& ctx) -> std::pair<std::vector<std::string>, json> {
    const Job& teacher = *ctx.deps.at(0);  // a teacher stage: the plan checked the reference's kind
    const TrainSpec& spec = stage_params<TrainSpec>(ctx.job);
    const TeacherSpec& ts = teacher_manifest(teacher);
    // Shared: a forced teacher in another process waits until this training has read its shards.
    cache::Lock reading = ctx.cache.lock(teacher.key, -1, cache::LockMode::Shared);
    TeacherShards shards(ctx.cache, teacher.key, ts.seeds);
    AmedPredictor net =
        seeded(spec.seed, [&] { return AmedPredictor(spec.settings.scale_dir, spec.settings.scale_time); });
    int64_t last_iter = -1;
    TrainReport rep = train_amed(
        spec, ctx.job.run_model(), ctx.job.device, shards, net,
        [&](const TrainStepLog& l) {
          if (l.iteration != last_iter && l.iteration % 10 == 0)
            ctx.log(fmt::format("  {}: iter {} loss {:.4g} r {:.3f}", ctx.job.label, l.iteration, l.loss, l.r_mean));
          last_iter = l.iteration;
        },
        dist::DataParallel{ctx.group});
    save_predictor(net, &rep.settings, ctx.out_dir + "/predictor.h5");
    ctx.log(fmt::format("  {}: {} samples, {} Adam steps, {:.2f} s, NFE {}", ctx.job.label, rep.samples, rep.adam_steps,
                        rep.seconds, rep.settings.nfe()));
    return {{"predictor.h5"}, json{{"nfe", rep.settings.nfe()}, {"samples", rep.samples}, {"seconds", rep.seconds}}};
  };
  return k;
}

}  // namespace dsx
