#include "amed/teacher_store.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "amed/solver_catalog.h"
#include "core/error.h"
#include "core/hash.h"
#include "store/tensor_h5.h"

namespace dsx {
namespace fs = std::filesystem;
using cache::json;

cache::CacheKey teacher_key(const TeacherSpec& spec, const ModelInfo& info, at::Device device) {
  const ScheduleSpec& s = spec.student_schedule;
  // Resolved options (defaults filled in), so `heun` and `heun` with its defaults spelt out share a key.
  Options opts = Options::resolve(all_option_specs(solver_entry(spec.solver)), spec.solver_options, "teacher.solver.");
  json options = json::object();
  for (const auto& [name, v] : opts.values()) options[name] = to_text(v);
  json params = {
      {"schedule", {{"kind", s.kind}, {"num_steps", s.num_steps}, {"sigma_min", s.sigma_min}, {"sigma_max", s.sigma_max},
                    {"rho", s.rho}, {"k", s.k}, {"eps_s", s.eps_s}, {"sigmas", s.sigmas}}},
      {"teacher", {{"solver", spec.solver}, {"options", options}, {"m", spec.m}}},
  };
  // batch, workers and seeds are left out on purpose: they never change a seed's trajectory.
  std::string dtype_device = fmt::format("{}/{}", spec.dtype == at::kDouble ? "float64" : "float32",
                                         device.is_cuda() ? "cuda" : "cpu");
  return cache::CacheKey::of("teacher", kTeacherStoreVersion, params, {}, info.fingerprint, dtype_device);
}

namespace {

// Seeds as [first, last] runs: compact in meta.json for the usual contiguous ranges.
json seed_runs(const std::vector<int64_t>& seeds) {
  json runs = json::array();
  for (size_t i = 0; i < seeds.size();) {
    size_t j = i;
    while (j + 1 < seeds.size() && seeds[j + 1] == seeds[j] + 1) ++j;
    runs.push_back({seeds[i], seeds[j]});
    i = j + 1;
  }
  return runs;
}

std::string shard_name(const std::vector<int64_t>& seeds) {
  // Named by content (its seeds), so the same batch always lands on the same name.
  std::string h = Hasher().update(seeds.data(), seeds.size() * sizeof(int64_t)).hex().substr(0, 8);
  return fmt::format("shard-{}-{}-{}.h5", seeds.front(), seeds.size(), h);
}

struct Shard {
  std::string name;
  std::vector<int64_t> seeds;
  json file;  // {name, size, xxh3}
};

// The valid shards of an entry: those in meta.json that pass their checksum, plus complete shards of this
// key that a killed run renamed into place before it could rewrite meta.json. Everything else is removed.
std::vector<Shard> scan(const cache::Cache& cache, const cache::CacheKey& key, std::vector<std::string>* warnings,
                        bool repair) {
  std::vector<Shard> out;
  const fs::path dir = cache.dir(key);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  auto warn = [&](std::string w) {
    if (warnings) warnings->push_back(std::move(w));
  };
  std::set<std::string> listed;
  std::string why;
  json meta;
  {
    std::ifstream in(dir / "meta.json");
    if (in) meta = json::parse(in, nullptr, false);
  }
  if (meta.is_object() && meta.value("complete", false) && meta.value("key", std::string()) == key.hex) {
    for (const auto& s : meta.value("shards", json::array())) {
      const json& f = s["file"];
      std::string bad = cache::Cache::check_file(dir.string(), f);
      listed.insert(f.value("name", std::string()));
      if (!bad.empty()) {
        warn(fmt::format("dropping corrupt shard ({}): it will be recomputed", bad));
        if (repair) fs::remove(dir / f.value("name", std::string()), ec);
        continue;
      }
      out.push_back({f["name"], s["seeds"].get<std::vector<int64_t>>(), f});
    }
  } else if (fs::exists(dir / "meta.json", ec)) {
    warn(fmt::format("{}: meta.json unreadable or of another key; checking shards one by one", dir.string()));
  }
  for (auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.find(".tmp.") != std::string::npos) {  // we hold the key's lock: any temp is a dead writer's
      if (repair) fs::remove(e.path(), ec);
      continue;
    }
    if (listed.count(name) || name.rfind("shard-", 0) != 0) continue;
    try {
      h5::File f = h5::File::open(e.path().string());
      if (!f.has_attr("complete") || f.attr_int("complete") != 1 || f.attr_string("cache_key") != key.hex)
        fail("incomplete or of another key");
      std::vector<int64_t> seeds = f.read_int64("seeds");
      f.close();
      out.push_back({name, seeds, {{"name", name}, {"size", int64_t(fs::file_size(e.path()))},
                                   {"xxh3", cache::file_checksum(e.path().string())}}});
      warn(fmt::format("adopted shard {} written by an interrupted run", name));
    } catch (const std::exception& ex) {
      warn(fmt::format("removing unusable shard {}: {}", name, ex.what()));
      if (repair) fs::remove(e.path(), ec);
    }
  }
  return out;
}

json commit_shards(const cache::Cache& cache, const cache::CacheKey& key, const std::vector<Shard>& shards,
                   int64_t nfe) {
  json list = json::array(), files = json::array();
  int64_t samples = 0;
  for (const auto& s : shards) {
    list.push_back({{"file", s.file}, {"seeds", s.seeds}, {"seed_runs", seed_runs(s.seeds)}});
    files.push_back(s.file);
    samples += int64_t(s.seeds.size());
  }
  if (nfe == 0 && !shards.empty())
    nfe = h5::File::open((fs::path(cache.dir(key)) / shards.front().name).string()).attr_int("nfe_per_sample");
  return cache.commit_entries(key, files, {{"shards", list}, {"num_samples", samples}, {"nfe_per_sample", nfe}});
}

// Requested seeds (first occurrence order) not covered by `shards`.
std::vector<int64_t> missing_seeds(const std::vector<int64_t>& want, const std::vector<Shard>& shards) {
  std::unordered_map<int64_t, bool> have;
  for (const auto& s : shards)
    for (int64_t seed : s.seeds) have[seed] = true;
  std::vector<int64_t> out;
  for (int64_t seed : want)
    if (!have[seed]) {
      have[seed] = true;  // dedupe
      out.push_back(seed);
    }
  return out;
}

}  // namespace

TeacherStoreReport probe_teacher(const cache::Cache& cache, const TeacherSpec& spec, const ModelInfo& info,
                                 at::Device device) {
  TeacherStoreReport r;
  cache::CacheKey key = teacher_key(spec, info, device);
  r.key = key.hex;
  std::vector<Shard> shards = scan(cache, key, &r.warnings, false);
  std::vector<int64_t> missing = missing_seeds(spec.seeds, shards);
  r.cached = int64_t(spec.seeds.size() - missing.size());
  r.status = missing.empty() ? cache::JobState::Hit : r.cached > 0 ? cache::JobState::Extend : cache::JobState::Run;
  return r;
}

TeacherStoreReport ensure_teacher(const cache::Cache& cache, const TeacherSpec& spec, const ModelPtr& model,
                                  at::Device device, const Progress& progress, double lock_timeout_s, bool reset) {
  if (spec.seeds.empty()) fail("teacher: no seeds given");
  auto t0 = std::chrono::steady_clock::now();
  TeacherStoreReport r;
  cache::CacheKey key = teacher_key(spec, model->info(), device);
  r.key = key.hex;
  cache::Lock lock = cache.lock(key, lock_timeout_s);  // held until return: scan, generation and commits
  if (reset) {  // the lock file lives beside the entry directory, so removing the entry keeps the lock
    std::error_code ec;
    fs::remove_all(cache.dir(key), ec);
    if (ec) fail("teacher: cannot reset cache entry {}: {}", cache.dir(key), ec.message());
  }
  std::vector<Shard> shards = scan(cache, key, &r.warnings, true);
  std::vector<int64_t> missing = missing_seeds(spec.seeds, shards);
  r.cached = int64_t(spec.seeds.size() - missing.size());
  r.status = missing.empty() ? cache::JobState::Hit : r.cached > 0 ? cache::JobState::Extend : cache::JobState::Run;
  if (missing.empty()) {
    if (!r.warnings.empty()) commit_shards(cache, key, shards, 0);  // record adopted/dropped shards
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }
  TeacherPlan plan(spec, model, device);
  std::vector<std::vector<int64_t>> batches;
  for (size_t first = 0; first < missing.size(); first += size_t(spec.batch))
    batches.emplace_back(missing.begin() + first, missing.begin() + std::min(missing.size(), first + size_t(spec.batch)));
  const fs::path dir = cache.dir(key);
  fs::create_directories(dir);
  run_teacher_batches(plan, batches, spec.workers, [&](TeacherPlan::Batch& b) {
    Shard s{shard_name(b.seeds), b.seeds, {}};
    const fs::path path = dir / s.name;
    h5::AtomicPath target(path.string());
    {
      h5::File f = h5::File::create(target.temp());
      append_teacher_batch(f, plan, b);
      f.set_attr("cache_key", key.hex);
      finish_teacher_file(f, plan, int64_t(b.seeds.size()), b.nfe, key.canonical);
    }
    target.commit();
    s.file = {{"name", s.name}, {"size", int64_t(fs::file_size(path))}, {"xxh3", cache::file_checksum(path.string())}};
    shards.push_back(std::move(s));
    commit_shards(cache, key, shards, b.nfe);  // after every shard: a crash now loses nothing written
    r.nfe_per_sample = b.nfe;
    r.computed += int64_t(b.seeds.size());
    ++r.shards_written;
    if (progress) progress(r.computed, int64_t(missing.size()));
  });
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

// ---- reader ----

TeacherShards::TeacherShards(const cache::Cache& cache, const cache::CacheKey& key, std::vector<int64_t> seeds)
    : seeds_(std::move(seeds)) {
  std::string why;
  std::optional<json> meta = cache.lookup(key, &why, false);  // ensure_teacher checked the checksums
  if (!meta) fail("teacher cache entry {} is not usable{}", key.hex, why.empty() ? " (not computed yet)" : ": " + why);
  std::unordered_map<int64_t, Row> where;
  for (const auto& s : (*meta)["shards"]) {
    int shard = int(paths_.size());
    paths_.push_back((fs::path(cache.dir(key)) / s["file"]["name"].get<std::string>()).string());
    std::vector<int64_t> sd = s["seeds"].get<std::vector<int64_t>>();
    for (size_t i = 0; i < sd.size(); ++i) where.emplace(sd[i], Row{shard, int64_t(i)});
  }
  for (int64_t seed : seeds_) {
    auto it = where.find(seed);
    if (it == where.end()) fail("teacher cache entry {} has no trajectory for seed {}: run `dsx teacher` for it", key.hex, seed);
    rows_.push_back(it->second);
  }
  if (paths_.empty()) fail("teacher cache entry {} has no shards", key.hex);
}

bool TeacherShards::has_features() const { return h5::File::open(paths_.front()).has("features"); }

at::Tensor TeacherShards::gather(const std::string& dataset, int64_t first, int64_t count, at::ScalarType dtype) const {
  if (first < 0 || count < 0 || first + count > size()) fail("rows [{}, {}) out of range (have {})", first, first + count, size());
  std::vector<at::Tensor> parts;
  for (int64_t i = first; i < first + count;) {
    const Row start = rows_[size_t(i)];
    int64_t n = 1;  // extend the run while rows are consecutive in one shard: one read_rows per run
    while (i + n < first + count && rows_[size_t(i + n)].shard == start.shard && rows_[size_t(i + n)].row == start.row + n) ++n;
    auto it = open_.find(start.shard);
    if (it == open_.end()) {
      open_.clear();  // one shard open at a time: HDF5 keeps per-file caches, and readers go in order
      it = open_.emplace(start.shard, h5::File::open(paths_[size_t(start.shard)])).first;
    }
    parts.push_back(h5::read_rows(it->second, dataset, start.row, n, dtype));
    i += n;
  }
  return parts.size() == 1 ? parts.front() : at::cat(parts, 0);
}

at::Tensor TeacherShards::states(int64_t first, int64_t count, at::ScalarType dtype) const {
  return gather("states", first, count, dtype);
}

at::Tensor TeacherShards::features(int64_t first, int64_t count, at::ScalarType dtype) const {
  return has_features() ? gather("features", first, count, dtype) : at::Tensor();
}

void export_teacher(const TeacherShards& shards, const TeacherPlan& plan, const std::string& output,
                    int64_t rows_per_chunk) {
  h5::AtomicPath target(output);
  {
    h5::File f = h5::File::create(target.temp());
    h5::File attrs = h5::File::open(shards.attributes_path());
    const bool features = shards.has_features();
    const at::ScalarType dtype = plan.spec().dtype == at::kDouble ? at::kDouble : at::kFloat;
    for (int64_t first = 0; first < shards.size(); first += rows_per_chunk) {
      const int64_t n = std::min(rows_per_chunk, shards.size() - first);
      TeacherPlan::Batch b;
      b.seeds.assign(shards.seeds().begin() + first, shards.seeds().begin() + first + n);
      b.states = shards.states(first, n, dtype);
      if (features) b.features = shards.features(first, n, dtype);
      append_teacher_batch(f, plan, b);
    }
    finish_teacher_file(f, plan, shards.size(), attrs.attr_int("nfe_per_sample"), attrs.attr_string("config"));
  }
  target.commit();
}

}  // namespace dsx
