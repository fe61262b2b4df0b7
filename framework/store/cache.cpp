#include "store/cache.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <thread>

#include <fmt/format.h>

#include "core/error.h"
#include "core/hash.h"

namespace dsx::cache {
namespace fs = std::filesystem;

std::string resolve_root(const std::string& cli_dir) {
  if (!cli_dir.empty()) return cli_dir;
  const char* env = std::getenv("DSX_CACHE_DIR");
  if (env && *env) return env;
  return ".cache/dsx";
}

std::string canonical_text(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::strict); }

CacheKey CacheKey::of(const std::string& kind, int version, const json& params,
                      const std::vector<std::string>& upstream, const std::string& model_fingerprint,
                      const std::string& dtype_device) {
  json j = {{"kind", kind},         {"version", version},         {"params", params},
            {"upstream", upstream}, {"model", model_fingerprint}, {"dtype_device", dtype_device}};
  CacheKey k;
  k.kind = kind;
  k.canonical = canonical_text(j);
  k.hex = hash_hex(k.canonical);
  k.params = params;
  return k;
}

const char* to_string(JobState s) {
  switch (s) {
    case JobState::Hit: return "HIT";
    case JobState::Extend: return "EXTEND";
    case JobState::Run: return "RUN";
    case JobState::Failed: return "FAILED";
    case JobState::Cancelled: return "CANCELLED";
  }
  return "?";
}

std::ostream& operator<<(std::ostream& out, JobState s) { return out << to_string(s); }

namespace {

void diff_into(const json& a, const json& b, const std::string& path, std::vector<std::string>& out) {
  if (a.is_object() && b.is_object()) {
    std::set<std::string> keys;
    for (auto it = a.begin(); it != a.end(); ++it) keys.insert(it.key());
    for (auto it = b.begin(); it != b.end(); ++it) keys.insert(it.key());
    for (const auto& k : keys) {  // std::set: stable, sorted report
      std::string p = path.empty() ? k : path + "." + k;
      if (!a.contains(k))
        out.push_back(fmt::format("+{} = {}", p, canonical_text(b[k])));
      else if (!b.contains(k))
        out.push_back(fmt::format("-{} (was {})", p, canonical_text(a[k])));
      else
        diff_into(a[k], b[k], p, out);
    }
    return;
  }
  if (a != b)
    out.push_back(fmt::format("{} {}→{}", path.empty() ? "(root)" : path, canonical_text(a), canonical_text(b)));
}

std::string utc_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

bool stale_temp(const fs::path& p) {
  std::string name = p.filename().string();
  size_t at = name.rfind(".tmp.");
  if (at == std::string::npos) return false;
  long pid = std::strtol(name.c_str() + at + 5, nullptr, 10);
  return pid <= 0 || (::kill(pid_t(pid), 0) != 0 && errno == ESRCH);
}

namespace {

int64_t tree_bytes(const fs::path& p) {
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) return int64_t(fs::file_size(p, ec));
  int64_t n = 0;
  for (auto& e : fs::recursive_directory_iterator(p, ec))
    if (e.is_regular_file(ec)) n += int64_t(e.file_size(ec));
  return n;
}

json read_meta(const fs::path& dir) {
  std::ifstream in(dir / "meta.json");
  if (!in) return nullptr;
  json m = json::parse(in, nullptr, false);
  return m.is_discarded() ? json(nullptr) : m;
}

}  // namespace

std::vector<std::string> diff_params(const json& before, const json& after) {
  std::vector<std::string> out;
  diff_into(before, after, "", out);
  return out;
}

std::string file_checksum(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot read '{}'", path);
  Hasher h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), std::streamsize(buf.size()));
    if (in.gcount() > 0) h.update(buf.data(), size_t(in.gcount()));
  }
  return h.hex();
}

// ---- Lock ----

Lock::Lock(const std::string& path, double timeout_s, LockMode mode) : path_(path) {
  const int op = mode == LockMode::Shared ? LOCK_SH : LOCK_EX;
  fs::create_directories(fs::path(path).parent_path());
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot open lock file '{}': {}", path, std::strerror(errno));
  if (timeout_s < 0) {
    while (::flock(fd_, op) != 0)
      if (errno != EINTR) fail("flock '{}': {}", path, std::strerror(errno));
    return;
  }
  // flock has no timeout: poll with LOCK_NB (the wait is for minutes-long computations, 50 ms is fine).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (::flock(fd_, op | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) fail("flock '{}': {}", path, std::strerror(errno));
    if (std::chrono::steady_clock::now() >= deadline) {
      ::close(fd_);
      fd_ = -1;
      fail("timed out after {} s waiting for cache lock '{}' (another dsx process is computing it)", timeout_s, path);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

Lock::~Lock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

bool Lock::is_free(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return true;
  bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);
  return free;
}

// ---- Cache ----

bool Entry::complete() const { return meta.is_object() && meta.value("complete", false); }

Cache::Cache(std::string root) : root_(std::move(root)) {}

std::string Cache::dir(const std::string& kind, const std::string& key) const {
  return (fs::path(root_) / kind / key).string();
}
std::string Cache::lock_path(const std::string& kind, const std::string& key) const {
  return (fs::path(root_) / kind / (key + ".lock")).string();
}
Lock Cache::lock(const CacheKey& k, double timeout_s, LockMode mode) const {
  return Lock(lock_path(k.kind, k.hex), timeout_s, mode);
}

std::string Cache::check_file(const std::string& dir, const json& f) {
  fs::path p = fs::path(dir) / f.value("name", std::string());
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return fmt::format("{}: missing", p.string());
  int64_t size = int64_t(fs::file_size(p, ec));
  if (size != f.value("size", int64_t(-1)))
    return fmt::format("{}: size {} but meta says {}", p.string(), size, f.value("size", int64_t(-1)));
  std::string sum = file_checksum(p.string());
  if (sum != f.value("xxh3", std::string()))
    return fmt::format("{}: checksum {} but meta says {}", p.string(), sum, f.value("xxh3", std::string()));
  return "";
}

std::optional<json> Cache::lookup(const CacheKey& k, std::string* why, bool checksums) const {
  auto reject = [&](std::string reason) -> std::optional<json> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  fs::path d = dir(k);
  std::error_code ec;
  if (!fs::is_directory(d, ec)) return reject("");
  json m = read_meta(d);
  if (m.is_null()) return reject(fmt::format("{}: meta.json missing or unreadable (interrupted write?)", d.string()));
  if (!m.value("complete", false)) return reject(fmt::format("{}: meta.json says incomplete", d.string()));
  if (m.value("key", std::string()) != k.hex || m.value("canonical", std::string()) != k.canonical)
    return reject(fmt::format("{}: meta.json belongs to another key", d.string()));
  for (const auto& f : m.value("files", json::array())) {
    std::string bad = checksums ? check_file(d.string(), f) : "";
    if (!checksums && !fs::exists(d / f.value("name", std::string()), ec))
      bad = f.value("name", std::string()) + ": missing";
    if (!bad.empty()) return reject(bad);
  }
  return m;
}

json Cache::commit(const CacheKey& k, const std::vector<std::string>& files, const json& extra) const {
  fs::path d = dir(k);
  json list = json::array();
  for (const auto& name : files) {
    fs::path p = d / name;
    list.push_back({{"name", name}, {"size", int64_t(fs::file_size(p))}, {"xxh3", file_checksum(p.string())}});
  }
  return commit_entries(k, list, extra);
}

json Cache::commit_entries(const CacheKey& k, const json& list, const json& extra) const {
  fs::path d = dir(k);
  fs::create_directories(d);
  json canon = json::parse(k.canonical);
  json m = extra;
  m["kind"] = k.kind;
  m["key"] = k.hex;
  m["version"] = canon["version"];
  m["params"] = k.params;
  m["upstream"] = canon["upstream"];
  m["model"] = canon["model"];
  m["dtype_device"] = canon["dtype_device"];
  m["canonical"] = k.canonical;
  m["created_utc"] = utc_now();
  m["files"] = list;
  m["complete"] = true;
  // Last and atomic: a reader sees either the previous meta or this one, never a torn file.
  static std::atomic<int> counter{0};
  fs::path tmp = d / fmt::format("meta.json.tmp.{}.{}", ::getpid(), counter++);
  {
    std::ofstream out(tmp);
    out << m.dump(2) << "\n";
    out.flush();
    if (!out) fail("cannot write '{}'", tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, d / "meta.json", ec);
  if (ec) fail("cannot move '{}' into place: {}", tmp.string(), ec.message());
  return m;
}

// A file about to be committed must be there and, for JSON, parse: a write that failed silently (a full disk
// under an unchecked stream) is caught here, not by the next reader. (HDF5 writers check their close.)
void Cache::check_readable(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) fail("{}: was not written (disk full?)", path);
  if (fs::path(path).extension() == ".json") {
    std::ifstream in(path);
    if (!json::accept(in)) fail("{}: written incompletely (disk full?): not valid JSON", path);
  }
}

Cache::Outcome Cache::compute_or_get(const CacheKey& k,
                                     const std::function<Computed(const std::string&, const std::string&)>& compute,
                                     bool force) const {
  Lock held = lock(k);
  Outcome out;
  if (!force) {
    if (std::optional<json> meta = lookup(k, &out.reason)) {
      out.hit = true;
      out.meta = *meta;
      return out;
    }
  }
  out.reason = force ? "forced" : out.reason.empty() ? "not cached" : out.reason;
  const std::string entry = dir(k);
  fs::remove_all(entry);
  fs::create_directories(entry);
  try {
    Computed c = compute(entry, out.reason);
    for (const auto& name : c.files) check_readable(entry + "/" + name);
    out.meta = commit(k, c.files, c.extra);
  } catch (...) {
    // Nothing half-written stays: the entry holds only what a failed (or full-disk) computation left.
    std::error_code ec;
    fs::remove_all(entry, ec);
    throw;
  }
  return out;
}

std::vector<Entry> Cache::list() const {
  std::vector<Entry> out;
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) return out;
  for (auto& kind : fs::directory_iterator(root_, ec)) {
    if (!kind.is_directory()) continue;
    for (auto& e : fs::directory_iterator(kind.path(), ec)) {
      if (!e.is_directory()) continue;
      Entry en{kind.path().filename().string(), e.path().filename().string(), e.path().string(), read_meta(e.path()),
               tree_bytes(e.path())};
      out.push_back(std::move(en));
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Entry& a, const Entry& b) { return std::tie(a.kind, a.key) < std::tie(b.kind, b.key); });
  return out;
}

std::optional<Entry> Cache::info(const std::string& prefix) const {
  std::optional<Entry> found;
  for (auto& e : list()) {
    if (e.key.compare(0, prefix.size(), prefix) != 0) continue;
    if (found) fail("cache key prefix '{}' is ambiguous ({} and {})", prefix, found->key, e.key);
    found = std::move(e);
  }
  return found;
}

namespace {
// Anything but lock files (claims): a folder holding only those is an entry that never got data (its stage
// failed or is starting), not a damaged one.
bool holds_data(const fs::path& dir) {
  std::error_code ec;
  for (auto& f : fs::recursive_directory_iterator(dir, ec))
    if (f.is_regular_file(ec) && f.path().extension() != ".lock") return true;
  return false;
}
}  // namespace

std::vector<Problem> Cache::verify() const {
  std::vector<Problem> out;
  for (const auto& e : list()) {
    if (e.meta.is_null()) {
      if (holds_data(e.dir)) out.push_back({e.kind, e.key, "meta.json missing or unreadable"});
      continue;
    }
    if (!e.complete()) out.push_back({e.kind, e.key, "incomplete"});
    for (const auto& f : e.meta.value("files", json::array())) {
      std::string bad = check_file(e.dir, f);
      if (!bad.empty()) out.push_back({e.kind, e.key, bad});
    }
  }
  return out;
}

GcReport Cache::gc(bool all, const std::set<std::string>& keep) const {
  GcReport r;
  auto remove = [&](const fs::path& p) {
    int64_t n = tree_bytes(p);
    std::error_code ec;
    fs::remove_all(p, ec);
    if (!ec) {
      r.removed.push_back(p.string());
      r.bytes_freed += n;
    }
  };
  for (const auto& e : list()) {
    // Never touch an entry a live process is working on (its lock is held).
    std::optional<Lock> held;
    try {
      held.emplace(lock_path(e.kind, e.key), 0);
    } catch (const Error&) {
      continue;
    }
    bool bad = !e.complete();
    for (const auto& f : bad ? json::array() : e.meta.value("files", json::array()))
      if (!check_file(e.dir, f).empty()) bad = true;
    if (bad || (all && !keep.count(e.key))) {
      remove(e.dir);
      continue;
    }
    std::error_code ec;
    for (auto& f : fs::directory_iterator(e.dir, ec))
      if (stale_temp(f.path())) remove(f.path());
  }
  // Lock files whose entry is gone and that nobody holds.
  std::error_code ec;
  if (fs::is_directory(root_, ec))
    for (auto& kind : fs::directory_iterator(root_, ec))
      if (kind.is_directory())
        for (auto& f : fs::directory_iterator(kind.path(), ec)) {
          const fs::path& p = f.path();
          if (p.extension() == ".lock" && !fs::exists(kind.path() / p.stem()) && Lock::is_free(p.string())) remove(p);
        }
  return r;
}

std::string seed_hash(const std::vector<int64_t>& seeds) { return CacheKey::of("seeds", 1, seeds, {}, "", "").hex; }

}  // namespace dsx::cache
