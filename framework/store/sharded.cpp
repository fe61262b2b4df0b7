#include "store/sharded.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <unordered_set>

#include <fmt/format.h>

#include "core/error.h"

namespace dsx::cache {
namespace fs = std::filesystem;

namespace {

// Items as [first, last] runs: compact in meta.json for the usual contiguous ranges.
json item_runs(const std::vector<int64_t>& items) {
  json runs = json::array();
  for (size_t i = 0; i < items.size();) {
    size_t j = i;
    while (j + 1 < items.size() && items[j + 1] == items[j] + 1) ++j;
    runs.push_back({items[i], items[j]});
    i = j + 1;
  }
  return runs;
}

json read_json(const fs::path& p) {
  std::ifstream in(p);
  return in ? json::parse(in, nullptr, false) : json();
}

}  // namespace

ShardedArtifact::ShardedArtifact(const Cache& cache, CacheKey key, std::string items_field,
                                 std::function<std::vector<int64_t>(const std::string&)> adopt,
                                 std::function<json(const std::vector<Shard>&)> extra)
    : cache_(cache),
      key_(std::move(key)),
      items_field_(std::move(items_field)),
      adopt_(std::move(adopt)),
      extra_(std::move(extra)) {}

std::string ShardedArtifact::path(const std::string& name) const { return (fs::path(dir()) / name).string(); }

Lock ShardedArtifact::reset(double timeout_s) const {
  Lock exclusive = cache_.lock(key_, timeout_s, LockMode::Exclusive);
  std::error_code ec;
  fs::remove_all(dir(), ec);  // the key's lock file lives beside the entry directory, so it survives
  if (ec) fail("cannot reset cache entry {}: {}", dir(), ec.message());
  return exclusive;
}

Lock ShardedArtifact::commit_lock() const {
  fs::create_directories(fs::path(dir()) / "claims");
  return Lock((fs::path(dir()) / "claims" / "commit.lock").string());
}

std::optional<Lock> ShardedArtifact::try_claim(const std::string& name) const {
  fs::create_directories(fs::path(dir()) / "claims");
  try {
    return Lock((fs::path(dir()) / "claims" / ("claim-" + name + ".lock")).string(), 0);
  } catch (const Error&) {
    return std::nullopt;
  }
}

Lock ShardedArtifact::claim(const std::string& name, double timeout_s) const {
  fs::create_directories(fs::path(dir()) / "claims");
  return Lock((fs::path(dir()) / "claims" / ("claim-" + name + ".lock")).string(), timeout_s);
}

std::vector<Shard> ShardedArtifact::recorded() const {
  std::vector<Shard> out;
  const json meta = read_json(fs::path(dir()) / "meta.json");
  if (!meta.is_object() || !meta.value("complete", false) || meta.value("key", std::string()) != key_.hex) return out;
  for (const auto& s : meta.value("shards", json::array()))
    out.push_back({s["file"].value("name", std::string()), recorded_items(s, items_field_), s["file"]});
  return out;
}

std::vector<Shard> ShardedArtifact::verified() const {
  // What scan() would keep, without repairing: recorded shards whose checksums hold, and the shards an
  // interrupted writer moved into place but did not record (scan() adopts them, so a run uses them).
  std::vector<Shard> out;
  std::set<std::string> listed;
  for (auto& s : recorded()) {
    listed.insert(s.name);
    if (Cache::check_file(dir(), s.file).empty()) out.push_back(std::move(s));
  }
  std::error_code ec;
  for (auto& e : fs::directory_iterator(dir(), ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name == "meta.json" || listed.count(name) || name.find(".tmp.") != std::string::npos)
      continue;
    try {
      out.push_back({name, adopt_(e.path().string()), {{"name", name}}});
    } catch (const std::exception&) {  // scan() would remove it
    }
  }
  return out;
}

std::vector<Shard> ShardedArtifact::scan(std::vector<std::string>* warnings) const {
  std::vector<Shard> out;
  const fs::path d = dir();
  std::error_code ec;
  if (!fs::is_directory(d, ec)) return out;
  Lock held = commit_lock();
  bool repaired = false;
  auto warn = [&](std::string w) {
    repaired = true;
    if (warnings) warnings->push_back(std::move(w));
  };
  std::set<std::string> listed;
  const json meta = read_json(d / "meta.json");
  if (meta.is_object() && meta.value("complete", false) && meta.value("key", std::string()) == key_.hex) {
    for (const auto& s : meta.value("shards", json::array())) {
      const json& f = s["file"];
      const std::string name = f.value("name", std::string());
      listed.insert(name);
      const std::string bad = Cache::check_file(d.string(), f);
      if (!bad.empty()) {
        warn(fmt::format("dropping corrupt shard ({}): it will be recomputed", bad));
        fs::remove(d / name, ec);
        continue;
      }
      out.push_back({name, recorded_items(s, items_field_), f});
    }
  } else if (fs::exists(d / "meta.json", ec)) {
    warn(fmt::format("{}: meta.json unreadable or of another key; checking shards one by one", d.string()));
  }
  for (auto& e : fs::directory_iterator(d, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name == "meta.json" || listed.count(name)) continue;
    if (name.find(".tmp.") != std::string::npos) {  // a live writer's, or a dead one's to remove
      if (stale_temp(e.path())) fs::remove(e.path(), ec);
      continue;
    }
    try {
      std::vector<int64_t> items = adopt_(e.path().string());
      out.push_back(
          {name,
           std::move(items),
           {{"name", name}, {"size", int64_t(fs::file_size(e.path()))}, {"xxh3", file_checksum(e.path().string())}}});
      warn(fmt::format("adopted shard {} written by an interrupted run", name));
    } catch (const std::exception& ex) {
      warn(fmt::format("removing unusable shard {}: {}", name, ex.what()));
      fs::remove(e.path(), ec);
    }
  }
  if (repaired) commit(out);
  return out;
}

json ShardedArtifact::commit(const std::vector<Shard>& shards) const {
  json list = json::array(), files = json::array();
  for (const auto& s : shards) {
    list.push_back({{"file", s.file}, {items_field_ + "_runs", item_runs(s.items)}});
    files.push_back(s.file);
  }
  json extra = extra_ ? extra_(shards) : json::object();
  extra["shards"] = list;
  return cache_.commit_entries(key_, files, extra);
}

bool ShardedArtifact::add(Shard shard, const std::function<void()>& move_into_place) const {
  Lock held = commit_lock();
  std::vector<Shard> shards = recorded();  // with what other writers recorded since our scan
  for (const auto& s : shards)
    if (s.name == shard.name) return false;
  move_into_place();
  const std::string p = path(shard.name);
  shard.file = {{"name", shard.name}, {"size", int64_t(fs::file_size(p))}, {"xxh3", file_checksum(p)}};
  shards.push_back(std::move(shard));
  commit(shards);
  return true;
}

// Runs since the lists made meta.json O(seeds): committing the n-th of n shards re-read and rewrote every seed
// so far, O(n²) over a teacher (8% of a 40 000-seed teacher's time went to JSON).
std::vector<int64_t> recorded_items(const json& shard, const std::string& field) {
  if (shard.contains(field)) return shard[field].get<std::vector<int64_t>>();
  std::vector<int64_t> items;
  for (const auto& run : shard.at(field + "_runs")) {
    const int64_t first = run.at(0).get<int64_t>(), last = run.at(1).get<int64_t>();
    if (last < first || last - first >= (int64_t(1) << 32))
      fail("meta.json: {} run {} is not a range", field, run.dump());
    for (int64_t i = first; i <= last; ++i) items.push_back(i);
  }
  return items;
}

std::vector<int64_t> missing_items(const std::vector<int64_t>& want, const std::vector<Shard>& shards) {
  std::unordered_set<int64_t> have;
  for (const auto& s : shards) have.insert(s.items.begin(), s.items.end());
  std::vector<int64_t> out;
  for (int64_t item : want)
    if (have.insert(item).second) out.push_back(item);
  return out;
}

}  // namespace dsx::cache
