// dsx cache ls | info KEY | verify | gc [--all]: inspect and clean the content-addressed artifact cache.
#include <fmt/format.h>

#include "commands.h"
#include "core/error.h"
#include "store/cache.h"

namespace dsx::cli {
namespace {

std::string human_bytes(int64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(b);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  return u == 0 ? fmt::format("{} B", b) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string status_of(const cache::Entry& e) {
  if (e.meta.is_null()) return "NO-META";
  return e.complete() ? "ok" : "INCOMPLETE";
}

}  // namespace

Action add_cache(CLI::App& app) {
  auto* cmd = app.add_subcommand("cache", "inspect and clean the artifact cache (ls, info KEY, verify, gc)");
  cmd->require_subcommand(1);
  auto dir = std::make_shared<std::string>();
  cmd->add_option("--cache-dir", *dir, "cache root (default: $DSX_CACHE_DIR, else .cache/dsx)");
  auto* ls = cmd->add_subcommand("ls", "list entries: kind, key, size, samples, created, status");
  auto* info = cmd->add_subcommand("info", "show one entry's meta.json (canonical params, files, checksums)");
  auto key = std::make_shared<std::string>();
  info->add_option("key", *key, "full key or unique prefix")->required();
  auto* verify = cmd->add_subcommand("verify", "recompute every checksum; exit 1 if anything is bad");
  auto* gc = cmd->add_subcommand("gc", "remove incomplete/corrupt entries, stale temp and lock files");
  auto all = std::make_shared<bool>(false);
  gc->add_flag("--all", *all, "remove every entry not locked by a running process");
  // Accepted before or after the action (`dsx cache --cache-dir D ls` and `dsx cache ls --cache-dir D`).
  for (CLI::App* sub : {ls, info, verify, gc})
    sub->add_option("--cache-dir", *dir, "cache root (default: $DSX_CACHE_DIR, else .cache/dsx)");
  return [=] {
    cache::Cache c(cache::resolve_root(*dir));
    if (ls->parsed()) {
      auto entries = c.list();
      int64_t total = 0;
      for (const auto& e : entries) {
        total += e.bytes;
        std::string samples = e.meta.is_object() && e.meta.contains("num_samples")
                                  ? fmt::format("{} samples", e.meta["num_samples"].get<int64_t>())
                                  : "";
        std::string created = e.meta.is_object() ? e.meta.value("created_utc", std::string()) : "";
        fmt::print("{:<10} {}  {:>10}  {:<14} {:<20} {}\n", e.kind, e.key, human_bytes(e.bytes), samples, created,
                   status_of(e));
      }
      fmt::print("{} entries, {} in {}\n", entries.size(), human_bytes(total), c.root());
      return 0;
    }
    if (info->parsed()) {
      auto e = c.info(*key);
      if (!e) fail("no cache entry with key '{}' in {}", *key, c.root());
      fmt::print("kind: {}\nkey: {}\ndir: {}\nsize: {}\nstatus: {}\n", e->kind, e->key, e->dir, human_bytes(e->bytes),
                 status_of(*e));
      if (e->meta.is_object()) {
        cache::json m = e->meta;
        if (m.contains("shards")) m["shards"] = fmt::format("<{} shards>", m["shards"].size());  // seed lists are long
        fmt::print("meta.json:\n{}\n", m.dump(2));
      }
      return 0;
    }
    if (verify->parsed()) {
      auto problems = c.verify();
      for (const auto& p : problems) fmt::print("BAD {} {}: {}\n", p.kind, p.key, p.what);
      fmt::print("verified {} entries in {}: {} problem(s)\n", c.list().size(), c.root(), problems.size());
      return problems.empty() ? 0 : 1;
    }
    cache::GcReport r = c.gc(*all);
    for (const auto& p : r.removed) fmt::print("removed {}\n", p);
    fmt::print("gc: removed {} path(s), freed {} ({} bytes)\n", r.removed.size(), human_bytes(r.bytes_freed),
               r.bytes_freed);
    return 0;
  };
}

}  // namespace dsx::cli
