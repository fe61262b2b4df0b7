#pragma once
// `dsx run` experiment specs: named stages of registered kinds that refer to upstream stages by name,
// an optional `sweep` over any key and a `light` set of overrides. Layers, lowest first: the defaults of
// the stage kinds < `include:`d files (YamlSource, Includes::merge) < the spec < `light` < --set.
// `sweep: {a.b: [1, 2], zip: {c: [x, y], d: [u, v]}}`: a grid key is one axis, a zip group (or each of a
// list of groups) is one axis whose equal-length lists are walked together; axes are crossed (here 2×2
// points). Everything is validated (strict keys with did-you-mean, types, dangling references, cycles;
// file:line:col, in the file a key came from) before anything runs, and the sweep is expanded into jobs:
// a stage whose resolved parameters and upstream jobs are identical in two sweep points is one job, so
// shared upstream stages are computed once.
#include <any>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/model_config.h"
#include "pipeline/schema.h"
#include "pipeline/yaml_util.h"
#include "store/cache.h"

namespace dsx {
namespace dist {
class Group;
}

using json = nlohmann::json;
struct Job;
struct RunDir;

// What a stage kind reads from its mapping, once: its typed parameters (kept by the job and handed to
// run), the canonical params derived from them (part of the cache key) and the names of the upstream
// stages it refers to, each with the location of the reference.
// What every stage of one sweep point shares: the spec's model and the run's precision and device.
struct SpecContext {
  ModelPtr model;  // float64 on the CPU, as loaded; null in a spec without a model
  at::ScalarType dtype = at::kFloat;
  at::Device device = at::kCPU;
};

struct StageDef {
  std::any typed;  // the kind's own parameter struct (stage_params<T>(job) reads it)
  json params = json::object();
  struct Ref {
    std::string stage, where;
    std::string kind;  // the stage kind the reference must name ("" = any; "a|b": either)
  };
  std::vector<Ref> refs;
};

// Everything a running stage sees.
struct StageRun {
  const Job& job;
  const std::vector<const Job*>& deps;  // upstream jobs, in reference order
  const cache::Cache& cache;
  std::string out_dir;  // the cache entry directory to write into (exists, empty)
  const RunDir* run_dir;
  std::function<void(const std::string&)> log;
  bool force = false;
  // A multi-process run's group (null: one process). Set for every rank that takes part in the run: rank 0
  // for every stage, the others for collective and self-managed (probe) stages (pipeline/graph.h).
  dist::Group* group = nullptr;
};

struct StageKind {
  std::string name, description;
  int version = 1;
  Schema schema;            // every key of the stage mapping, with type, default and help (dsx run --explain)
  bool gathers = false;     // refers to every sweep variant of its inputs (report): one job, not one per point
  bool needs_model = true;  // reads the spec's model (a spec without `model:` may hold only stages that don't)
  // In a multi-process run, run() is called on every rank and shares the work over StageRun::group; rank 0
  // writes the entry (the others' out_dir is scratch). Otherwise rank 0 runs it alone.
  bool collective = false;
  // Reads and validates the stage mapping (must call r.finish): the only place a stage reads YAML.
  std::function<StageDef(MapReader& r, const YamlSource& src, const SpecContext& spec)> parse;
  // Optional: own key and status (teacher: seed-extendable store). probe returns Hit, Extend or Run.
  std::function<cache::CacheKey(const Job&)> key;
  std::function<cache::JobState(const Job&, const cache::Cache&, std::string* reason)> probe;
  // Computes the artifact into out_dir; returns the files written (relative) and extra meta. A stage with
  // `probe` manages its own cache entry and returns nothing.
  std::function<std::pair<std::vector<std::string>, json>(StageRun&)> run;
  // Optional: what downstream keys depend on, when it is more than the key (teacher: the key leaves the seeds
  // out, but a predictor trained on its trajectories depends on which seeds there are).
  std::function<std::string(const Job&)> output_id;
  // Optional: after a HIT or RUN, copies things into the run directory.
  std::function<void(StageRun&)> publish;
};

struct Job {
  std::string label;  // stage name, with the sweep point when the stage has several variants
  std::string stage;  // stage name in the spec
  const StageKind* kind = nullptr;
  std::any typed;  // StageDef::typed
  json params;
  std::vector<int> deps;              // job indices
  std::string key_path;               // "stages.<name>"
  std::string point;                  // "b=1,c=x,d=u": every key of the sweep point that created it, "" without a sweep
  ModelPtr model;                     // the spec's model as loaded (float64, CPU; shared through the ModelPool)
  at::ScalarType dtype = at::kFloat;  // the run's precision and device
  at::Device device = at::kCPU;
  std::string model_fingerprint, dtype_device;
  cache::CacheKey key;
  // What each upstream job's artifact is (its output_id, else its key), in reference order: set by
  // compute_keys before this job's key, so a kind's own key may name an upstream artifact.
  std::vector<std::string> upstream;
  // The model in the run's precision, shared by every job and worker of the process.
  ModelPtr run_model() const { return ModelPool::process().in_precision(model, dtype, device); }
};

// A job's typed parameters; T must be what its kind's parse stored.
template <class T>
const T& stage_params(const Job& job) {
  return std::any_cast<const T&>(job.typed);
}

struct Plan {
  std::string name;
  std::shared_ptr<YamlSource> source;  // first sweep point (for the resolved spec)
  int64_t files_read = 0;              // spec and include files read from disk (each once, whatever the sweep)
  std::vector<Job> jobs;               // in topological order
  // The resolved spec, for --print-config and resolved.yaml: one YAML document per sweep point (includes
  // merged, light and --set applied), then `jobs:` with every job's kind, inputs and canonical params.
  std::string resolved_yaml;
};

struct SpecOptions {
  std::vector<std::string> overrides;  // --set
  bool light = false;
};

// Parses, validates and expands. Throws dsx::Error with file:line:col on any problem.
Plan load_plan(const std::string& path, const SpecOptions& opts, const std::vector<StageKind>& kinds);
Plan load_plan_string(const std::string& text, const std::string& name, const SpecOptions& opts,
                      const std::vector<StageKind>& kinds);

}  // namespace dsx
