#pragma once
// Content-addressed artifact cache (docs/design.md "Pipeline behaviour", docs/ecosystem.md §2.2).
//
//   <root>/<kind>/<key>/         artifact files + meta.json
//   <root>/<kind>/<key>.lock     per-key inter-process lock (flock), never deleted while held
//
// key = XXH3-128 of the canonical JSON of {kind, version, params, upstream, model, dtype} (nlohmann's
// default object is a std::map, so keys are sorted; doubles print as the shortest round-trip text).
// meta.json is written last and atomically; it records every file's size and XXH3 checksum and
// `complete: true`. An entry whose meta is missing, unparsable, incomplete or whose files fail their
// checksum is never used: lookup() says why and the caller recomputes. No torch here on purpose:
// `dsx cache` and the pipeline's dry run use it without paying for ATen.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsx::cache {

using json = nlohmann::json;

// --cache-dir if non-empty, else $DSX_CACHE_DIR if set and non-empty, else ".cache/dsx".
std::string resolve_root(const std::string& cli_dir = "");

// What a job does (or did) about its artifact. Planned: Hit (cached, nothing to compute), Extend (part cached:
// a seed-extendable teacher computes the missing seeds), Run (computed whole). After running also Failed
// and Cancelled (an upstream job did not succeed). Printed as HIT, EXTEND, RUN, FAILED, CANCELLED.
enum class JobState { Hit, Extend, Run, Failed, Cancelled };
const char* to_string(JobState s);
std::ostream& operator<<(std::ostream& out, JobState s);

struct CacheKey {
  std::string kind;       // stage kind: "teacher", "train_amed", ...
  std::string hex;        // 32 hex digits
  std::string canonical;  // the hashed text, kept in meta.json for `dsx cache info` and dry-run diffs
  json params;

  // `version` is the stage implementation version: bump it when numerics change. `upstream` are the
  // keys of the artifacts this one was computed from; `dtype_device` e.g. "float32/cpu".
  static CacheKey of(const std::string& kind, int version, const json& params, const std::vector<std::string>& upstream,
                     const std::string& model_fingerprint, const std::string& dtype_device);
};

// The stable text of a JSON value (sorted keys, no whitespace).
std::string canonical_text(const json& j);

// "solver.max_order 2→3", "+solver.r = 0.5", "-solver.order (was 2)": what changed between two param
// objects (nested objects are walked with dotted paths), in key order. Empty if equal.
std::vector<std::string> diff_params(const json& before, const json& after);

// Content hash of a seed list (order matters): how keys depend on exactly which seeds were used.
std::string seed_hash(const std::vector<int64_t>& seeds);

// Temp files are "<name>.tmp.<pid>.<n>" (ours and h5::AtomicPath's): stale once that process is gone.
bool stale_temp(const std::filesystem::path& p);

// XXH3-128 hex of a file's bytes (streamed).
std::string file_checksum(const std::string& path);

// Blocking flock on a lock file, released by the destructor (and by the kernel if the process dies, so a
// crashed run never leaves a held lock behind). Exclusive for writers of an entry; shared for readers that
// must not see it deleted under them (training from teacher shards while another run forces the teacher).
enum class LockMode { Exclusive, Shared };

class Lock {
 public:
  // timeout_s < 0: wait forever; 0: try once. Throws dsx::Error on timeout.
  Lock(const std::string& path, double timeout_s = -1, LockMode mode = LockMode::Exclusive);
  ~Lock();
  Lock(Lock&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;
  Lock& operator=(Lock&&) = delete;
  // True when the lock could be taken without waiting (false: another process holds it).
  static bool is_free(const std::string& path);

 private:
  int fd_ = -1;
  std::string path_;
};

struct FileEntry {
  std::string name;  // relative to the entry directory
  int64_t size = 0;
  std::string xxh3;
};

struct Entry {
  std::string kind, key, dir;
  json meta;  // null when missing or unreadable
  int64_t bytes = 0;
  bool complete() const;
};

struct Problem {
  std::string kind, key, what;
};

struct GcReport {
  std::vector<std::string> removed;  // paths
  int64_t bytes_freed = 0;
};

class Cache {
 public:
  explicit Cache(std::string root);
  const std::string& root() const { return root_; }
  std::string dir(const std::string& kind, const std::string& key) const;
  std::string dir(const CacheKey& k) const { return dir(k.kind, k.hex); }
  std::string lock_path(const std::string& kind, const std::string& key) const;
  Lock lock(const CacheKey& k, double timeout_s = -1, LockMode mode = LockMode::Exclusive) const;

  // The entry's meta if it is complete and every listed file has its size and checksum; otherwise
  // nullopt with the reason in *why (empty reason: the entry does not exist).
  std::optional<json> lookup(const CacheKey& k, std::string* why = nullptr, bool checksums = true) const;

  // Writes meta.json (last, temp + rename) listing `files` (relative to the entry dir) with sizes and
  // checksums; `extra` is merged into the meta (kind-specific facts such as the seeds of each shard).
  json commit(const CacheKey& k, const std::vector<std::string>& files, const json& extra = json::object()) const;
  // The same with file entries ({name, size, xxh3}) the caller already has: an artifact that grows by
  // shards checksums each new shard once instead of rehashing all of them per commit.
  json commit_entries(const CacheKey& k, const json& files, const json& extra = json::object()) const;
  // Checks of one file against its meta entry: "" if good, else the problem.
  static std::string check_file(const std::string& dir, const json& file_entry);
  // Fails unless the file is there and, for JSON, parses; called on every file before a commit.
  static void check_readable(const std::string& path);

  // The one cache protocol for whole artifacts: under the key's exclusive lock, a complete entry is a HIT
  // (`compute` is not called); otherwise (or with `force`) the entry directory is emptied and recreated,
  // `compute(dir, reason)` writes the artifact's files into it and returns them (relative names) with extra meta,
  // and the meta is committed last, so a crash leaves an entry that the next lookup rebuilds.
  struct Computed {
    std::vector<std::string> files;
    json extra = json::object();
  };
  struct Outcome {
    bool hit = false;
    std::string reason;  // why it was computed: "not cached", the lookup's problem, or "forced"
    json meta;
  };
  Outcome compute_or_get(const CacheKey& k,
                         const std::function<Computed(const std::string& dir, const std::string& reason)>& compute,
                         bool force = false) const;

  std::vector<Entry> list() const;
  // Entry by full key or unique prefix (any kind).
  std::optional<Entry> info(const std::string& key_or_prefix) const;
  // Recomputes every checksum; returns the problems found (missing meta, incomplete, bad files).
  std::vector<Problem> verify() const;
  // Removes incomplete/corrupt entries, stale temp files and unheld lock files; with `all`, every entry
  // not in `keep` (keys). Entries whose lock is held by a live process are skipped.
  GcReport gc(bool all = false, const std::set<std::string>& keep = {}) const;

 private:
  std::string root_;
};

}  // namespace dsx::cache
