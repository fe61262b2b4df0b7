#include "pipeline/amed_config.h"

#include <filesystem>

#include "amed/amed_solvers.h"
#include "amed/solver_catalog.h"
#include "core/error.h"
#include "core/fs_util.h"
#include "core/seeds.h"
#include "pipeline/sample_config.h"

namespace dsx {
namespace {

std::string resolved_text(const YamlSource& src) {
  YAML::Emitter e;
  e << src.root();
  return e.c_str();
}

std::vector<int64_t> read_seeds(MapReader& r, const std::string& key) {
  YAML::Node n = r.node(key);
  std::string text;
  if (n.IsSequence())
    for (const auto& s : n) text += (text.empty() ? "" : ",") + s.Scalar();
  else
    text = n.Scalar();
  try {
    return parse_seed_ranges(text);
  } catch (const Error& e) {
    fail("{}: {}", r.where(key), e.what());
  }
}

void require(const MapReader& r, const YamlSource& src, const std::vector<std::string>& keys) {
  for (const auto& k : keys)
    if (!r.has(k)) r.missing(k);
}

}  // namespace

TeacherConfig load_teacher_config(const std::string& path, const std::vector<std::string>& overrides) {
  YamlSource src = YamlSource::load_file(path);
  for (const auto& o : overrides) src.apply_override(o);
  MapReader top(src, src.root(), "");
  const std::vector<std::string> keys = {"model", "schedule",  "teacher", "seeds",
                                         "batch", "precision", "device",  "output"};
  top.reject_unknown(keys);
  require(top, src, {"model", "schedule", "seeds", "output"});
  TeacherConfig c;
  c.model = load_model(src, top.node("model"), "model");
  c.spec.student_schedule = read_schedule(src, top.node("schedule"), "schedule", c.model->info());
  if (top.has("teacher")) {
    MapReader t(src, top.node("teacher"), "teacher");
    t.reject_unknown({"solver", "m"});
    if (t.has("solver")) {
      SolverConfig s = read_solver(src, t.node("solver"), "teacher.solver");
      c.spec.solver = s.name;
      c.spec.solver_options = s.options;
    }
    c.spec.m = int(t.get_int("m", 1));
    if (c.spec.m < 0) fail("{}: teacher.m = {} must be >= 0", t.where("m"), c.spec.m);
    t.finish({"solver", "m"});
  }
  c.spec.seeds = read_seeds(top, "seeds");
  c.spec.batch = top.get_int("batch", 256);
  if (c.spec.batch < 1) fail("{}: batch = {} must be >= 1", top.where("batch"), c.spec.batch);
  c.spec.dtype = parse_precision(top.get_string("precision", std::string("float32")), top.where("precision"));
  c.device = top.get_string("device", std::string("auto"));
  c.output = top.get_output_path("output");
  top.finish(keys);
  c.spec.config_yaml = resolved_text(src);
  return c;
}

const Schema& train_schema() {
  static const Schema schema = {
      opt::section(
          "student", false, "{name: amed}",
          "{name: amed|euler|dpm2|ipndm|dpmpp, afs: true, max_order, predict_x0: true, lower_order_final: true}, "
          "or any solver with a step form (ipndm_v, deis, scire, unipc) with its own options"),
      opt::number("scale_dir", 0.01, 0.0, 1.0, "the head's scale range for the direction factor c (official 0.01)")
          .exclusive_max(),
      opt::number("scale_time", 0.0, 0.0, 1.0, "the head's scale range for the time factor a (0 = off)")
          .exclusive_max(),
      opt::choice("features", {"model", "zero", "pooled"}, "model",
                  "predictor input: the model's 8x8 features averaged over channels (official), zeros, or pooled "
                  "over channels with learned weights (starting at the mean)"),
      opt::choice("training", {"per_step", "joint"}, "per_step",
                  "per_step: an Adam step per interval on that step's error (official); joint: one Adam step per "
                  "batch on the sum of every step's error, gradients through the whole student trajectory"),
      opt::integer("batch", 128, 1, 1 << 20, "trajectories per Adam step (official 128)"),
      opt::number("lr", 5e-3, 0.0, 1e300, "Adam learning rate (official 5e-3)").exclusive_min(),
      opt::integer("seed", 0, 0, (long(1) << 62), "predictor initialisation seed"),
      opt::integer("max_samples", 0, 0, (long(1) << 62), "train on the first N trajectories (0 = all)"),
  };
  return schema;
}

namespace {

// The keys after `student` (shared by every student kind).
TrainSpec finish_train_spec(MapReader& r, const Schema& schema, TrainSpec spec) {
  AmedSettings& s = spec.settings;
  s.scale_dir = read_number(r, schema, "scale_dir");
  s.scale_time = read_number(r, schema, "scale_time");
  spec.features = feature_mode(read_choice(r, schema, "features"));
  spec.joint = read_choice(r, schema, "training") == "joint";
  spec.batch = read_int(r, schema, "batch");
  spec.lr = read_number(r, schema, "lr");
  spec.seed = uint64_t(read_int(r, schema, "seed"));
  spec.max_samples = read_int(r, schema, "max_samples");
  return spec;
}

}  // namespace

TrainSpec read_train_spec(MapReader& r, const YamlSource& src) {
  const Schema& schema = train_schema();
  TrainSpec spec;
  AmedSettings& s = spec.settings;
  if (r.has("student")) {
    MapReader st(src, r.node("student"), r.path("student"));
    const std::vector<std::string> skeys = {"name", "afs", "max_order", "predict_x0", "lower_order_final"};
    s.student = st.get_string("name", std::string("amed"));
    if (s.student != "amed" && !is_official_plugin_base(s.student)) {
      // Another base: its own options through the solver registry (errors name the key and its range).
      if (!is_amed_plugin_base(s.student))
        fail(
            "{}: student.name = '{}' has no AMED variant; allowed: amed, euler, dpm2, ipndm, dpmpp and the solvers "
            "with a step form (ipndm_v, deis, scire, unipc)",
            st.where("name"), s.student);
      s.afs = st.get_bool("afs", true);
      std::map<std::string, RawOption> raw = st.rest_as_options({"name", "afs"});
      for (const auto& [k, v] : raw)
        if (k == "thresholding" || k.rfind("amed.", 0) == 0)
          fail("{}: student.{} is not an option of an AMED student", v.where, k);
      const SolverEntry& e = solver_entry(s.student);
      s.base_options = base_option_text(e, Options::resolve(all_option_specs(e), raw, "student."));
      return finish_train_spec(r, schema, spec);
    }
    st.reject_unknown(skeys);
    s.afs = st.get_bool("afs", true);
    const int hi = s.student == "ipndm" ? 4 : 3;
    s.max_order = int(st.get_int("max_order", hi));
    if (s.max_order < 1 || s.max_order > hi)
      fail("{}: student.max_order = {} is out of range [1, {}]", st.where("max_order"), s.max_order, hi);
    s.predict_x0 = st.get_bool("predict_x0", true);
    s.lower_order_final = st.get_bool("lower_order_final", true);
    st.finish(skeys);
  }
  return finish_train_spec(r, schema, spec);
}

TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides) {
  YamlSource src = YamlSource::load_file(path);
  for (const auto& o : overrides) src.apply_override(o);
  MapReader top(src, src.root(), "");
  const std::vector<std::string> keys = {"model",       "trajectories", "student", "scale_dir", "scale_time",
                                         "features",    "training",     "batch",   "lr",        "seed",
                                         "max_samples", "precision",    "device",  "output"};
  top.reject_unknown(keys);
  require(top, src, {"model", "trajectories", "output"});
  TrainConfig c;
  c.model = load_model(src, top.node("model"), "model");
  c.trajectories = src.resolve_path(top.get_string("trajectories"), "trajectories");
  if (!path_exists(c.trajectories))
    fail("{}: trajectories file '{}' does not exist", top.where("trajectories"), c.trajectories);
  c.spec = read_train_spec(top, src);
  c.spec.dtype = parse_precision(top.get_string("precision", std::string("float32")), top.where("precision"));
  c.device = top.get_string("device", std::string("auto"));
  c.output = top.get_output_path("output");
  top.finish(keys);
  return c;
}

}  // namespace dsx
