#pragma once
// The `dsx sample` config: model, latents, schedule, solver, precision, device, output. Read strictly
// (unknown keys, wrong types and missing files are errors with file:line:col); defaults < file < --set.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/options.h"
#include "diffusion/schedule.h"
#include "pipeline/model_config.h"
#include "pipeline/yaml_util.h"

namespace dsx {

class Solver;

struct SolverConfig {
  std::string name;
  std::map<std::string, RawOption> options;  // validated by the solver registry
  std::shared_ptr<const Solver> solver;      // built from them once, when the section was read
};

struct SampleConfig {
  ModelPtr model;
  std::string latents_file;  // dataset `latents_dataset` [B, *shape]
  std::string latents_dataset = "latents";
  std::vector<int64_t> seeds;  // alternative to a latents file: per-seed noise
  ScheduleSpec schedule;
  SolverConfig solver;
  at::ScalarType dtype = at::kFloat;
  std::string device = "auto";  // cpu | cuda | auto
  std::string output;           // HDF5: dataset 'samples', attribute 'nfe'
  // The exact ODE solution the samples are scored against (rmse_vs_exact), for models that have one:
  // auto = computed when cheap next to the sampling (or cached), exact = always, none = never.
  std::string reference = "auto";
  std::string resolved_yaml;  // the config after --set, for provenance
  // `indices`: where a searched schedule sits in the grid it was chosen from (dsx gits writes it beside
  // `schedule`, so its file can be included); provenance only.
  std::vector<int64_t> schedule_indices;
};

// `extra`: further top-level keys of a command built on the sample keys (dsx gits: `gits`), handed to
// `read_extra` after the sample keys are read.
using ExtraKeys = std::function<void(MapReader& top, const YamlSource& src, SampleConfig& c)>;
SampleConfig load_sample_config(const std::string& path, const std::vector<std::string>& overrides,
                                const std::vector<std::string>& extra = {}, const ExtraKeys& read_extra = {});

// Reusable section readers (later specs embed the same sections).
// A `schedule` mapping through its kind's schema (schedule_keys() + the kind's options). `default_num_steps`:
// the grid size when num_steps is not given (0: required; evaluate passes its placeholder, replaced per NFE).
ScheduleSpec read_schedule(const YamlSource& src, const YAML::Node& node, const std::string& key_path,
                           const ModelInfo& model, int default_num_steps = 0);
SolverConfig read_solver(const YamlSource& src, const YAML::Node& node, const std::string& key_path);
at::ScalarType parse_precision(const std::string& text, const std::string& where);
at::Device resolve_device(const std::string& name);  // "auto" → cuda when available

}  // namespace dsx
