#pragma once
// Teacher trajectories as a cached artifact that extends by seed range, survives crashes and is filled by
// several processes at once (the sharded-artifact protocol of store/sharded.h).
//
// The key leaves the seeds out (model fingerprint, student schedule or learned grid's source, teacher solver + resolved
// options, M, dtype/device class): every seed's trajectory depends only on that seed, so one entry serves any seed
// list. The entry holds shard files, each a complete teacher file (amed/teacher.h layout) for one batch of seeds, and a
// meta.json listing every shard with its seeds and checksum, rewritten (atomically, under a short commit lock) after
// each new shard. Hence:
//   - a crash loses at most the batches in flight; a shard moved into place but not yet recorded is
//     adopted by the next run after checking its `complete` flag and key;
//   - asking for 10k seeds when 4k are cached computes only the 6k missing ones (EXTEND);
//   - a shard failing its checksum is reported, deleted and recomputed;
//   - concurrent runs split the work: each shard is claimed before it is computed, so a second process
//     computes the shards nobody claimed and waits only for the ones in flight elsewhere.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "amed/teacher.h"
#include "amed/trainer.h"
#include "store/cache.h"

namespace dsx {

constexpr int kTeacherStoreVersion = 1;  // bump when teacher numerics or the shard layout change

cache::CacheKey teacher_key(const TeacherSpec& spec, const ModelInfo& info, at::Device device);

struct TeacherStoreReport {
  std::string key;
  cache::JobState status = cache::JobState::Run;  // Hit (nothing to compute), Extend (some seeds cached), Run (none)
  int64_t cached = 0;                             // requested seeds found valid in the cache
  int64_t computed = 0;                           // seeds computed by this call
  int64_t shards_written = 0;
  int64_t nfe_per_sample = 0;
  double seconds = 0;
  std::vector<std::string> warnings;  // dropped/adopted shards, with reasons
};

// Makes every seed of spec.seeds available in the cache, computing only the missing ones (spec.batch
// seeds per shard, spec.workers batches at a time). Holds the key's lock shared for the whole call and the
// entry's commit lock only while recording a shard; lock_timeout_s < 0 waits forever. `reset` (--force)
// deletes the entry under the key's exclusive lock (after every other writer and reader is done) and keeps
// that lock while it recomputes every requested seed alone.
TeacherStoreReport ensure_teacher(const cache::Cache& cache, const TeacherSpec& spec, const ModelPtr& model,
                                  at::Device device, const Progress& progress = {}, double lock_timeout_s = -1,
                                  bool reset = false);

// What ensure_teacher would do, without computing or locking: HIT/EXTEND/RUN and the counts.
TeacherStoreReport probe_teacher(const cache::Cache& cache, const TeacherSpec& spec, const ModelInfo& info,
                                 at::Device device);

// Rows = `seeds` in the given order, gathered across shards. Every seed must be cached.
class TeacherShards : public TrajectorySource {
 public:
  TeacherShards(const cache::Cache& cache, const cache::CacheKey& key, std::vector<int64_t> seeds);
  int64_t size() const override { return int64_t(rows_.size()); }
  at::Tensor states(int64_t first, int64_t count, at::ScalarType dtype) const override;
  std::vector<int64_t> seeds(int64_t first, int64_t count) const override {
    return std::vector<int64_t>(seeds_.begin() + first, seeds_.begin() + first + count);
  }
  at::Tensor features(int64_t first, int64_t count, at::ScalarType dtype) const;  // undefined if none
  // [count, P−1, *shape]; an error for an entry made without TeacherSpec::directions.
  at::Tensor directions(int64_t first, int64_t count, at::ScalarType dtype) const;
  std::string attributes_path() const override { return paths_.front(); }
  const std::vector<int64_t>& seeds() const { return seeds_; }
  std::vector<double> sigmas() const;  // the student grid the states sit on (σ_max first)
  bool has_features() const;
  bool has_directions() const;

 private:
  at::Tensor gather(const std::string& dataset, int64_t first, int64_t count, at::ScalarType dtype) const;
  struct Row {
    int shard;
    int64_t row;
  };
  std::vector<int64_t> seeds_;
  std::vector<std::string> paths_;
  std::vector<Row> rows_;
  mutable std::map<int, h5::File> open_;
};

// Writes rows of `shards` in the single-file layout generate_teacher writes (what train-amed reads).
void export_teacher(const TeacherShards& shards, const TeacherPlan& plan, const std::string& output,
                    int64_t rows_per_chunk = 256);

}  // namespace dsx
