#include "pipeline/sample_config.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "amed/solver_catalog.h"
#include "core/error.h"
#include "core/fs_util.h"
#include "core/registry.h"
#include "core/seeds.h"
#include "pipeline/schema.h"
#include "solvers/solver.h"

namespace dsx {

ScheduleSpec read_schedule(const YamlSource& src, const YAML::Node& node, const std::string& key_path,
                           const ModelInfo& model, int default_num_steps) {
  MapReader r(src, node, key_path);
  ScheduleSpec s;
  s.kind = r.get_string("kind", s.kind);
  const ScheduleKind& kind = find_entry(schedule_kinds(), s.kind, r.path("kind"), r.where("kind"));
  Schema keys = schedule_keys();
  keys.insert(keys.end(), kind.options.begin(), kind.options.end());
  const std::vector<std::string> names = key_names(keys);
  // Another kind's key (rho on logsnr) would be silently ignored: say whose key it is.
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (std::find(names.begin(), names.end(), key) != names.end()) continue;
    for (const auto& other : schedule_kinds())
      for (const auto& o : other.options)
        if (o.name == key)
          fail("{}: '{}' is a key of schedule kind {}, not of {} (whose keys are: {})", r.where(key), r.path(key),
               other.name, kind.name, fmt::format("{}", fmt::join(names, ", ")));
  }
  r.reject_unknown(names);
  if (kind.name == "explicit") {
    s.sigmas = r.get_doubles("sigmas");
    try {
      validate_sigma_grid(s.sigmas, key_path + ".sigmas");
    } catch (const Error& e) {
      fail("{}: {}", r.where("sigmas"), e.what());
    }
    default_num_steps = int(s.sigmas.size());
  }
  if (!r.has("num_steps") && default_num_steps == 0) r.get_int("num_steps");  // the missing-key error
  s.num_steps = r.has("num_steps") ? int(read_int(r, keys, "num_steps")) : default_num_steps;
  auto sigma = [&](const char* name, double fallback) { return r.has(name) ? read_number(r, keys, name) : fallback; };
  s.sigma_min = sigma("sigma_min", kind.name == "explicit" ? s.sigmas.back() : model.sigma_min);
  s.sigma_max = sigma("sigma_max", kind.name == "explicit" ? s.sigmas.front() : model.sigma_max);
  for (const auto& o : kind.options) {  // every kind's own scalars have their schema's defaults and ranges
    if (o.name == "rho") s.rho = read_number(r, keys, "rho");
    if (o.name == "k") s.k = read_number(r, keys, "k");
    if (o.name == "eps_s") s.eps_s = read_number(r, keys, "eps_s");
  }
  r.finish(names);
  // A VP network knows σ only inside its process's time range: beyond it the time label is extrapolated
  // (a discrete model would get step indices below 0).
  if (const NoiseProcess* p = model.process.get(); p && !p->is_variance_exploding()) {
    const double lo = p->sigma_hat(p->t_min()), hi = p->sigma_hat(p->t_max());
    if (s.sigma_min < lo * (1 - 1e-9))
      fail(
          "{}: {}.sigma_min = {:g} is below the smallest σ of the model's {} process ({:.6g}, at t = {:g}): "
          "the network would get times outside its range",
          r.where("sigma_min"), key_path, s.sigma_min, p->kind(), lo, p->t_min());
    if (s.sigma_max > hi * (1 + 1e-9))
      fail("{}: {}.sigma_max = {:g} is above the largest σ of the model's {} process ({:.6g}, at t = {:g})",
           r.where("sigma_max"), key_path, s.sigma_max, p->kind(), hi, p->t_max());
  }
  if (!(s.sigma_max > s.sigma_min))
    fail("{}: {}.sigma_max = {} must be greater than sigma_min = {}", r.where("sigma_max"), key_path, s.sigma_max,
         s.sigma_min);
  try {
    make_schedule(s, model.process.get());  // validate now, with the location of the section
  } catch (const Error& e) {
    fail("{}: {}", src.where(node, key_path), e.what());
  }
  return s;
}

SolverConfig read_solver(const YamlSource& src, const YAML::Node& node, const std::string& key_path) {
  MapReader r(src, node, key_path);
  SolverConfig c;
  c.name = r.get_string("name");
  try {
    solver_entry(c.name);
  } catch (const Error& e) {
    fail("{}: {}", r.where("name"), e.what());
  }
  // A nested map groups options: `amed: {predictor: p.h5}` is the option "amed.predictor".
  std::set<std::string> groups{"name"};
  for (auto it = node.begin(); it != node.end(); ++it)
    if (it->second.IsMap()) groups.insert(it->first.Scalar());
  c.options = r.rest_as_options(groups);
  for (const auto& g : groups) {
    if (g == "name") continue;
    MapReader sub(src, r.node(g), r.path(g));
    for (auto& [k, v] : sub.rest_as_options({})) {
      if (c.options.count(g + "." + k))
        fail("{}: '{}.{}' is given twice (as a nested key and as '{}.{}')", v.where, r.path(g), k, g, k);
      c.options[g + "." + k] = v;
    }
  }
  // File options are relative to the config file (--set values to the working directory), and must exist.
  for (const auto& spec : all_option_specs(solver_entry(c.name))) {
    if (spec.required && !c.options.count(spec.name))
      fail("{}: solver '{}' needs {}.{}: {}", r.where("name"), c.name, key_path, spec.name, spec.help);
    auto it = c.options.find(spec.name);
    if (spec.type != OptionType::Path || it == c.options.end() || it->second.text.empty()) continue;
    it->second.text = src.resolve_path(it->second.text, r.path(spec.name));
    if (!path_exists(it->second.text))
      fail("{}: {} '{}' does not exist", it->second.where, r.path(spec.name), it->second.text);
  }
  c.solver = make_solver(c.name, c.options, key_path + ".");  // option errors carry their own locations
  return c;
}

at::ScalarType parse_precision(const std::string& text, const std::string& where) {
  if (text == "float32") return at::kFloat;
  if (text == "float64") return at::kDouble;
  fail("{}: precision = '{}' is invalid; allowed: float32, float64", where, text);
}

at::Device resolve_device(const std::string& name) {
  if (name == "cpu") return at::kCPU;
  if (name == "cuda") {
    if (!at::hasCUDA()) fail("device = cuda requested, but this LibTorch build has no usable CUDA device");
    return at::Device(at::kCUDA, 0);
  }
  if (name == "auto") return at::hasCUDA() ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  fail("device = '{}' is invalid; allowed: cpu, cuda, auto", name);
}

SampleConfig load_sample_config(const std::string& path, const std::vector<std::string>& overrides,
                                const std::vector<std::string>& extra, const ExtraKeys& read_extra) {
  YamlSource src = YamlSource::load_file(path, Includes::merge);  // e.g. a schedule dsx gits wrote
  for (const auto& o : overrides) src.apply_override(o);
  MapReader top(src, src.root(), "");
  std::vector<std::string> sections = {"model",  "latents", "schedule", "solver",   "precision",
                                       "device", "output",  "indices",  "reference"};
  sections.insert(sections.end(), extra.begin(), extra.end());
  top.reject_unknown(sections);
  SampleConfig c;
  for (const char* key : {"model", "latents", "schedule", "solver", "output"})
    if (!top.has(key)) top.missing(key);
  c.model = load_model(src, top.node("model"), "model");

  MapReader lat(src, top.node("latents"), "latents");
  lat.reject_unknown({"file", "dataset", "seeds"});
  if (lat.has("file") == lat.has("seeds"))
    fail("{}: latents needs exactly one of 'file' (HDF5 dataset of unit noise) or 'seeds' (e.g. 0-63)",
         src.where(top.node("latents"), "latents"));
  if (lat.has("file")) {
    c.latents_file = src.resolve_path(lat.get_string("file"), "latents.file");
    c.latents_dataset = lat.get_string("dataset", std::string("latents"));
    if (!path_exists(c.latents_file)) fail("{}: latents.file '{}' does not exist", lat.where("file"), c.latents_file);
  } else {
    YAML::Node seeds = lat.node("seeds");
    std::string text;
    if (seeds.IsSequence()) {
      for (const auto& s : seeds) text += (text.empty() ? "" : ",") + s.Scalar();
    } else {
      text = seeds.Scalar();
    }
    try {
      c.seeds = parse_seed_ranges(text);
    } catch (const Error& e) {
      fail("{}: latents.{}", lat.where("seeds"), e.what());
    }
  }
  lat.finish({"file", "dataset", "seeds"});

  c.schedule = read_schedule(src, top.node("schedule"), "schedule", c.model->info());
  c.solver = read_solver(src, top.node("solver"), "solver");
  c.dtype = parse_precision(top.get_string("precision", std::string("float32")), top.where("precision"));
  c.device = top.get_string("device", std::string("auto"));
  if (c.device != "cpu" && c.device != "cuda" && c.device != "auto")
    fail("{}: device = '{}' is invalid; allowed: cpu, cuda, auto", top.where("device"), c.device);
  c.output = top.get_output_path("output");
  c.reference = top.get_string("reference", std::string("auto"));
  if (c.reference != "auto" && c.reference != "exact" && c.reference != "none")
    fail(
        "{}: reference = '{}' is invalid; allowed: auto (the exact ODE solution when cheap next to the sampling "
        "or cached), exact (always), none",
        top.where("reference"), c.reference);
  if (top.has("indices")) {
    try {
      c.schedule_indices = top.node("indices").as<std::vector<int64_t>>();
    } catch (const YAML::Exception&) {
      fail("{}: indices must be a list of integers (a searched schedule's grid indices)", top.where("indices"));
    }
  }
  if (read_extra) read_extra(top, src, c);
  top.finish(sections);
  YAML::Emitter e;
  e << src.root();
  c.resolved_yaml = e.c_str();
  return c;
}

}  // namespace dsx
