#include "amed/teacher_store.h"

#include <chrono>
#include <filesystem>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>

#include "amed/solver_catalog.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/ordered_pipeline.h"
#include "store/sharded.h"
#include "store/tensor_h5.h"

namespace dsx {
namespace fs = std::filesystem;
using cache::json;

cache::CacheKey teacher_key(const TeacherSpec& spec, const ModelInfo& info, at::Device device) {
  const ScheduleSpec& s = spec.student_schedule;
  // Resolved options (defaults filled in), so `heun` and `heun` with its defaults spelt out share a key.
  json options = json::object();
  if (spec.solver != kExactTeacher) {
    Options opts =
        Options::resolve(all_option_specs(solver_entry(spec.solver)), spec.solver_options, "teacher.solver.");
    for (const auto& [name, v] : opts.values()) options[name] = to_text(v);
  }
  const json schedule =
      !spec.grid_source.empty() ? json{{"learned", spec.grid_source}} : json{{"kind", s.kind},
                                                                             {"num_steps", s.num_steps},
                                                                             {"sigma_min", s.sigma_min},
                                                                             {"sigma_max", s.sigma_max},
                                                                             {"rho", s.rho},
                                                                             {"k", s.k},
                                                                             {"eps_s", s.eps_s},
                                                                             {"sigmas", s.sigmas}};
  json params = {
      {"schedule", schedule},
      {"teacher", {{"solver", spec.solver}, {"options", options}, {"m", spec.m}}},
  };
  if (spec.directions) params["teacher"]["directions"] = true;  // only then: earlier entries keep their keys
  // batch, workers and seeds are left out on purpose: they never change a seed's trajectory.
  std::string dtype_device =
      fmt::format("{}/{}", spec.dtype == at::kDouble ? "float64" : "float32", device.is_cuda() ? "cuda" : "cpu");
  return cache::CacheKey::of("teacher", kTeacherStoreVersion, params, {}, info.fingerprint, dtype_device);
}

namespace {

std::string shard_name(const std::vector<int64_t>& seeds) {
  // Named by content (its seeds), so the same batch always lands on the same name.
  std::string h = Hasher().update(seeds.data(), seeds.size() * sizeof(int64_t)).hex().substr(0, 8);
  return fmt::format("shard-{}-{}-{}.h5", seeds.front(), seeds.size(), h);
}

// The teacher's view of the generic sharded artifact (store/sharded.h): shards list their seeds; an
// unrecorded shard is adopted when it is a complete teacher file of this key; meta.json also carries the
// sample count and the NFE per sample.
cache::ShardedArtifact teacher_artifact(const cache::Cache& cache, const cache::CacheKey& key) {
  auto adopt = [key](const std::string& path) {
    if (fs::path(path).filename().string().rfind("shard-", 0) != 0) fail("not a teacher shard");
    h5::File f = h5::File::open(path);
    if (!f.has_attr("complete") || f.attr_int("complete") != 1 || f.attr_string("cache_key") != key.hex)
      fail("incomplete or of another key");
    return f.read_int64("seeds");
  };
  auto extra = [&cache, key](const std::vector<cache::Shard>& shards) {
    int64_t samples = 0, nfe = 0;
    for (const auto& s : shards) samples += int64_t(s.items.size());
    if (!shards.empty())
      nfe = h5::File::open((fs::path(cache.dir(key)) / shards.front().name).string()).attr_int("nfe_per_sample");
    return json{{"num_samples", samples}, {"nfe_per_sample", nfe}};
  };
  return cache::ShardedArtifact(cache, key, "seeds", adopt, extra);
}

cache::JobState state_of(int64_t cached, size_t missing) {
  return missing == 0 ? cache::JobState::Hit : cached > 0 ? cache::JobState::Extend : cache::JobState::Run;
}

}  // namespace

TeacherStoreReport probe_teacher(const cache::Cache& cache, const TeacherSpec& spec, const ModelInfo& info,
                                 at::Device device) {
  TeacherStoreReport r;
  cache::CacheKey key = teacher_key(spec, info, device);
  r.key = key.hex;
  const cache::ShardedArtifact store = teacher_artifact(cache, key);
  const std::vector<cache::Shard> usable = store.verified();
  std::vector<int64_t> missing = cache::missing_items(spec.seeds, usable);
  r.cached = int64_t(spec.seeds.size() - missing.size());
  r.status = state_of(r.cached, missing.size());
  // Usable shards that meta.json does not list (it is unreadable, or a writer died before recording them):
  // the stage runs to record them (ensure_teacher's scan), computing nothing, so the entry verifies again.
  const size_t recorded = store.recorded().size();
  if (usable.size() > recorded && r.status == cache::JobState::Hit) {
    r.status = cache::JobState::Extend;
    r.warnings.push_back(fmt::format("{}/meta.json lists {} of the {} shards on disk: recording them", store.dir(),
                                     recorded, usable.size()));
  }
  return r;
}

TeacherStoreReport ensure_teacher(const cache::Cache& cache, const TeacherSpec& spec, const ModelPtr& model,
                                  at::Device device, const Progress& progress, double lock_timeout_s, bool reset) {
  if (spec.seeds.empty()) fail("teacher: no seeds given");
  auto t0 = std::chrono::steady_clock::now();
  TeacherStoreReport r;
  cache::CacheKey key = teacher_key(spec, model->info(), device);
  r.key = key.hex;
  const cache::ShardedArtifact store = teacher_artifact(cache, key);
  // Shared: other writers fill other shards meanwhile. A forced run deletes the entry and refills it alone.
  cache::Lock filling = reset ? store.reset(lock_timeout_s) : store.hold(lock_timeout_s);
  std::vector<int64_t> missing = cache::missing_items(spec.seeds, store.scan(&r.warnings));
  r.cached = int64_t(spec.seeds.size() - missing.size());
  r.status = state_of(r.cached, missing.size());
  auto done = [&] {
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  };
  if (missing.empty()) return done();

  // Each batch is claimed just before it is computed, so writers of this key started together split the
  // work. After a claim the batch is re-checked against meta.json (it may have been
  // recorded since our scan) and only its unrecorded seeds are computed.
  std::vector<std::vector<int64_t>> batches;
  for (size_t first = 0; first < missing.size(); first += size_t(spec.batch))
    batches.emplace_back(missing.begin() + first,
                         missing.begin() + std::min(missing.size(), first + size_t(spec.batch)));
  const int64_t to_compute = int64_t(missing.size());
  int64_t done_seeds = 0;  // computed here or found recorded by another writer
  TeacherPlan plan(spec, model, device);
  // Computes the batches of `todo` it can claim; returns the ones another writer holds.
  auto fill = [&](const std::vector<std::vector<int64_t>>& todo) {
    std::vector<std::optional<cache::Lock>> claims(todo.size());  // slot i: touched by item i only
    std::vector<std::vector<int64_t>> skipped;
    run_ordered<TeacherPlan::Batch>(
        int64_t(todo.size()), spec.workers,
        [&](int64_t i) {
          const std::vector<int64_t>& b = todo[size_t(i)];
          if (std::optional<cache::Lock> c = store.try_claim(shard_name(b))) claims[size_t(i)].emplace(std::move(*c));
          TeacherPlan::Batch none;
          none.index = i;
          if (!claims[size_t(i)]) return none;  // another writer computes it now
          std::vector<int64_t> left = cache::missing_items(b, store.recorded());
          none.seeds = b;  // nothing left: recorded meanwhile
          return left.empty() ? none : plan.run(left, i);
        },
        [&](int64_t i, TeacherPlan::Batch& b) {
          if (!claims[size_t(i)]) {
            skipped.push_back(todo[size_t(i)]);
            return;
          }
          if (b.states.defined()) {
            cache::Shard s{shard_name(b.seeds), b.seeds, {}};
            h5::AtomicPath target(store.path(s.name));
            {
              h5::File f = h5::File::create(target.temp());
              append_teacher_batch(f, plan, b);
              f.set_attr("cache_key", key.hex);
              finish_teacher_file(f, plan, int64_t(b.seeds.size()), b.nfe, key.canonical);
              f.close();
            }
            store.add(std::move(s), [&] { target.commit(); });  // recorded at once: a crash now loses nothing written
            r.nfe_per_sample = b.nfe;
            r.computed += int64_t(b.seeds.size());
            ++r.shards_written;
          } else {
            r.cached += int64_t(b.seeds.size());
          }
          claims[size_t(i)].reset();
          done_seeds += int64_t(todo[size_t(i)].size());
          if (progress) progress(done_seeds, to_compute);
        });
    return skipped;
  };
  // Batches held elsewhere: wait for each holder while holding no claim (so no two writers wait on each other),
  // then try them again; they are found recorded, or computed here when their writer died.
  for (std::vector<std::vector<int64_t>> todo = fill(batches); !todo.empty(); todo = fill(todo))
    for (const auto& b : todo) store.claim(shard_name(b), lock_timeout_s);
  return done();
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
    const std::vector<int64_t> sd = cache::recorded_items(s, "seeds");
    for (size_t i = 0; i < sd.size(); ++i) where.emplace(sd[i], Row{shard, int64_t(i)});
  }
  for (int64_t seed : seeds_) {
    auto it = where.find(seed);
    if (it == where.end())
      fail("teacher cache entry {} has no trajectory for seed {}: run `dsx teacher` for it", key.hex, seed);
    rows_.push_back(it->second);
  }
  if (paths_.empty()) fail("teacher cache entry {} has no shards", key.hex);
}

std::vector<double> TeacherShards::sigmas() const {
  const at::Tensor t = h5::read_tensor(h5::File::open(paths_.front()), "sigmas", at::kDouble).contiguous();
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

bool TeacherShards::has_features() const { return h5::File::open(paths_.front()).has("features"); }

at::Tensor TeacherShards::gather(const std::string& dataset, int64_t first, int64_t count, at::ScalarType dtype) const {
  if (first < 0 || count < 0 || first + count > size())
    fail("rows [{}, {}) out of range (have {})", first, first + count, size());
  std::vector<at::Tensor> parts;
  for (int64_t i = first; i < first + count;) {
    const Row start = rows_[size_t(i)];
    int64_t n = 1;  // extend the run while rows are consecutive in one shard: one read_rows per run
    while (i + n < first + count && rows_[size_t(i + n)].shard == start.shard &&
           rows_[size_t(i + n)].row == start.row + n)
      ++n;
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

bool TeacherShards::has_directions() const { return h5::File::open(paths_.front()).has("directions"); }

at::Tensor TeacherShards::directions(int64_t first, int64_t count, at::ScalarType dtype) const {
  if (!has_directions()) fail("teacher cache entry has no directions (a teacher stage with directions: true)");
  return gather("directions", first, count, dtype);
}

void export_teacher(const TeacherShards& shards, const TeacherPlan& plan, const std::string& output,
                    int64_t rows_per_chunk) {
  h5::AtomicPath target(output);
  {
    h5::File f = h5::File::create(target.temp());
    h5::File attrs = h5::File::open(shards.attributes_path());
    const bool features = shards.has_features(), directions = shards.has_directions();
    const at::ScalarType dtype = plan.spec().dtype == at::kDouble ? at::kDouble : at::kFloat;
    for (int64_t first = 0; first < shards.size(); first += rows_per_chunk) {
      const int64_t n = std::min(rows_per_chunk, shards.size() - first);
      TeacherPlan::Batch b;
      b.seeds.assign(shards.seeds().begin() + first, shards.seeds().begin() + first + n);
      b.states = shards.states(first, n, dtype);
      if (features) b.features = shards.features(first, n, dtype);
      if (directions) b.directions = shards.directions(first, n, dtype);
      append_teacher_batch(f, plan, b);
    }
    finish_teacher_file(f, plan, shards.size(), attrs.attr_int("nfe_per_sample"), attrs.attr_string("config"));
    f.close();
  }
  target.commit();
}

}  // namespace dsx
