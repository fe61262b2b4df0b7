#pragma once
// Sharded artifacts: a cache entry made of independent shard files, each covering a set of integer items (a
// teacher's seeds), that several processes can fill at once.
//
//   writer A ──┐ key lock (shared, whole run; exclusive for a forced reset and refill) ── claim shard s (exclusive,
//   non-blocking) ── compute s ──┐ writer B ──┘                                  claim shard t ── compute t ──┤
//                                                                                                     ▼
//                                         commit lock (exclusive, short): move the shard into place,
//                                         re-read meta.json, add it, rewrite meta.json atomically
//
// - The key's lock (Cache::lock) is held shared by every writer and reader for its whole run, so --force
//   and `dsx cache gc`, which take it exclusive, never delete files under them.
// - A shard is claimed (its own lock file) before it is computed: a second writer asking for the same shard
//   waits for the first and then finds it recorded, so each shard is computed once; disjoint shards are
//   computed side by side.
// - The commit lock covers only the move and the meta rewrite. A shard file is renamed into place only
//   under it, so a recorded-but-unlisted shard can only be a killed writer's: the next scan adopts it after
//   the caller's check. Torch-free, like the rest of the cache.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "store/cache.h"

namespace dsx::cache {

struct Shard {
  std::string name;            // file name in the entry directory
  std::vector<int64_t> items;  // what it covers (seeds)
  json file;                   // {name, size, xxh3}
};

class ShardedArtifact {
 public:
  // `adopt(path)`: the items of a shard file found in the directory but not in meta.json, after checking it
  // is complete and of this key; throws when it is not (the file is then removed). `items_field`: the
  // shard field that lists the items in meta.json ("seeds"). `extra`: entry-level meta facts computed from
  // the shard list (merged into meta.json on every commit).
  ShardedArtifact(const Cache& cache, CacheKey key, std::string items_field,
                  std::function<std::vector<int64_t>(const std::string& path)> adopt,
                  std::function<json(const std::vector<Shard>&)> extra = nullptr);

  const CacheKey& key() const { return key_; }
  std::string dir() const { return cache_.dir(key_); }
  std::string path(const std::string& name) const;

  // Deletes the entry under the key's exclusive lock (after every writer and reader is done) and returns that
  // lock: the caller refills the entry alone (a forced regeneration is not shared with concurrent runs).
  Lock reset(double timeout_s = -1) const;
  // The key's lock, shared: hold it while filling or reading.
  Lock hold(double timeout_s = -1) const { return cache_.lock(key_, timeout_s, LockMode::Shared); }

  // The valid shards, under the commit lock: those in meta.json that pass their checksum, plus shards a
  // killed writer moved into place before recording them. Corrupt and unusable files are removed and the
  // repaired list is recorded; what was done is appended to `warnings`.
  std::vector<Shard> scan(std::vector<std::string>* warnings = nullptr) const;
  // The recorded shards as meta.json lists them (no checksums), without locking.
  std::vector<Shard> recorded() const;
  // What a run would use, changing nothing (dry runs): the recorded shards that pass their checksum and the
  // unrecorded ones scan() would adopt (moved into place by a writer killed before it recorded them).
  std::vector<Shard> verified() const;

  // A shard's claim: try (nullopt when another writer holds it) or wait for it.
  std::optional<Lock> try_claim(const std::string& name) const;
  Lock claim(const std::string& name, double timeout_s = -1) const;

  // Under the commit lock: unless a shard of that name is already recorded, `move_into_place()` renames the
  // finished file to path(shard.name), its size and checksum are taken, and it is recorded. False (and
  // nothing moved) when it was already there.
  bool add(Shard shard, const std::function<void()>& move_into_place) const;

 private:
  Lock commit_lock() const;
  json commit(const std::vector<Shard>& shards) const;

  const Cache& cache_;
  CacheKey key_;
  std::string items_field_;
  std::function<std::vector<int64_t>(const std::string&)> adopt_;
  std::function<json(const std::vector<Shard>&)> extra_;
};

// A shard's items, in row order, from its record in meta.json's "shards": `field`_runs ([first, last] runs of
// consecutive items), or the plain `field` list that entries written before the runs hold.
std::vector<int64_t> recorded_items(const json& shard, const std::string& field);

// Items of `want` (first occurrence order, deduplicated) that no shard covers.
std::vector<int64_t> missing_items(const std::vector<int64_t>& want, const std::vector<Shard>& shards);

}  // namespace dsx::cache
