// Stage `train_amed`: an AMED predictor trained on the trajectories of a `teacher` stage.
#include <torch/utils.h>

#include <fmt/format.h>

#include "amed/predictor.h"
#include "amed/teacher_store.h"
#include "amed/trainer.h"
#include "core/error.h"
#include "experiments/stages.h"

namespace dsx {
namespace {

const std::vector<std::string> kKeys = {"kind", "teacher", "student", "scale_dir", "scale_time", "features",
                                        "batch", "lr", "seed", "max_samples"};

TrainSpec read_train(MapReader& r, const YamlSource& src, StageDef& def) {
  r.reject_unknown(kKeys);
  r.get_string("kind");
  if (!r.has("teacher")) fail("{}: {} is missing 'teacher' (the name of a teacher stage)", r.where("teacher"), r.path(""));
  stage_util::read_ref(r, "teacher", def, "teacher");
  TrainSpec spec;
  AmedSettings& s = spec.settings;
  if (r.has("student")) {
    const std::vector<std::string> sk = {"name", "afs", "max_order", "predict_x0", "lower_order_final"};
    MapReader st(src, r.node("student"), r.path("student"));
    st.reject_unknown(sk);
    s.student = st.get_string("name", std::string("amed"));
    if (s.student != "amed" && s.student != "euler" && s.student != "dpm2" && s.student != "ipndm" &&
        s.student != "dpmpp")
      fail("{}: student.name = '{}' has no AMED variant; allowed: amed, euler, dpm2, ipndm, dpmpp", st.where("name"),
           s.student);
    s.afs = st.get_bool("afs", true);
    int hi = s.student == "ipndm" ? 4 : 3;
    s.max_order = int(st.get_int("max_order", hi));
    if (s.max_order < 1 || s.max_order > hi)
      fail("{}: student.max_order = {} is out of range [1, {}]", st.where("max_order"), s.max_order, hi);
    s.predict_x0 = st.get_bool("predict_x0", true);
    s.lower_order_final = st.get_bool("lower_order_final", true);
    st.finish(sk);
  }
  s.scale_dir = r.get_double("scale_dir", 0.01);
  s.scale_time = r.get_double("scale_time", 0.0);
  if (!(s.scale_dir >= 0 && s.scale_dir < 1)) fail("{}: scale_dir = {} is out of range [0, 1)", r.where("scale_dir"), s.scale_dir);
  if (!(s.scale_time >= 0 && s.scale_time < 1))
    fail("{}: scale_time = {} is out of range [0, 1)", r.where("scale_time"), s.scale_time);
  std::string features = r.get_string("features", std::string("model"));
  if (features != "model" && features != "zero")
    fail("{}: features = '{}' is invalid; allowed: model, zero", r.where("features"), features);
  spec.features = features == "zero" ? FeatureMode::Zero : FeatureMode::Model;
  spec.batch = r.get_int("batch", 128);
  if (spec.batch < 1) fail("{}: batch = {} must be >= 1", r.where("batch"), spec.batch);
  spec.lr = r.get_double("lr", 5e-3);
  if (!(spec.lr > 0)) fail("{}: lr = {} must be positive", r.where("lr"), spec.lr);
  spec.seed = uint64_t(r.get_int("seed", 0));
  spec.max_samples = r.get_int("max_samples", 0);
  if (spec.max_samples < 0) fail("{}: max_samples = {} must be >= 0", r.where("max_samples"), spec.max_samples);
  r.finish(kKeys);
  def.params = {{"student", s.student}, {"afs", s.afs}, {"max_order", s.max_order}, {"predict_x0", s.predict_x0},
                {"lower_order_final", s.lower_order_final}, {"scale_dir", s.scale_dir}, {"scale_time", s.scale_time},
                {"features", features}, {"batch", spec.batch}, {"lr", spec.lr}, {"seed", spec.seed},
                {"max_samples", spec.max_samples}};
  return spec;
}

}  // namespace

StageKind train_amed_stage() {
  StageKind k;
  k.name = "train_amed";
  k.description = "train an AMED predictor on a teacher stage's trajectories";
  k.version = 1;
  k.parse = [](MapReader& r, const YamlSource& src, const LoadedModel&) {
    StageDef d;
    read_train(r, src, d);
    return d;
  };
  k.run = [](StageRun& ctx) -> std::pair<std::vector<std::string>, json> {
    const Job& teacher = *ctx.deps.at(0);
    if (teacher.kind->name != "teacher")
      fail("{}: 'teacher' must name a teacher stage; '{}' is a {} stage", ctx.job.key_path, teacher.stage,
           teacher.kind->name);
    MapReader r(*ctx.job.src, ctx.job.node, ctx.job.key_path);
    StageDef d;
    TrainSpec spec = read_train(r, *ctx.job.src, d);
    spec.dtype = stage_util::dtype_of(ctx.job);
    LoadedModel m = stage_util::model_of(ctx.job);
    TeacherSpec ts = stage_util::teacher_spec_of(teacher, m.model->info());
    TeacherShards shards(ctx.cache, teacher.key, ts.seeds);
    torch::manual_seed(spec.seed);
    AmedPredictor net(spec.settings.scale_dir, spec.settings.scale_time);
    int64_t last_iter = -1;
    TrainReport rep = train_amed(spec, *m.model, stage_util::device_of(ctx.job), shards, net, [&](const TrainStepLog& l) {
      if (l.iteration != last_iter && l.iteration % 10 == 0)
        ctx.log(fmt::format("  {}: iter {} loss {:.4g} r {:.3f}", ctx.job.label, l.iteration, l.loss, l.r_mean));
      last_iter = l.iteration;
    });
    save_predictor(net, &rep.settings, ctx.out_dir + "/predictor.h5");
    ctx.log(fmt::format("  {}: {} samples, {} Adam steps, {:.2f} s, NFE {}", ctx.job.label, rep.samples,
                        rep.adam_steps, rep.seconds, rep.settings.nfe()));
    return {{"predictor.h5"}, json{{"nfe", rep.settings.nfe()}, {"samples", rep.samples}, {"seconds", rep.seconds}}};
  };
  return k;
}

}  // namespace dsx
