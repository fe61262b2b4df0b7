// run_graph_distributed: the stage graph on every rank of a multi-process run (see pipeline/graph.h).
//
//   for each job, in plan order:
//     rank 0: HIT or RUN? ──broadcast──▶ every rank
//     RUN:  ordinary stage   rank 0 computes the entry; the others wait on the store ("done/<i>")
//           probe (teacher)  every rank fills shards it claims in the shared cache entry
//           collective       rank 0 takes the entry's lock ──"go"──▶ every rank runs its share;
//                            rank 0 gathers and writes the entry ("hit": a concurrent run wrote it)
//     ──all-gather of each rank's error──▶ the same status everywhere
#include <chrono>
#include <filesystem>

#include <unistd.h>

#include <fmt/format.h>

#include "core/error.h"
#include "dist/group.h"
#include "pipeline/graph.h"

namespace dsx {
namespace fs = std::filesystem;

namespace {

// A non-zero rank's out_dir for a collective stage: it writes nothing there that anybody reads. It lives in
// the local temp folder, not in the (shared) cache, and is named like a temp file (cache::stale_temp), so
// the next rank that makes one removes what a killed rank left behind.
struct Scratch {
  std::string path;
  Scratch(int rank, size_t job) {
    const fs::path dir = fs::temp_directory_path();
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().filename().string().rfind("dsx-scratch-", 0) == 0 && cache::stale_temp(e.path()))
        fs::remove_all(e.path(), ec);
    path = (dir / fmt::format("dsx-scratch-rank{}-job{}.tmp.{}", rank, job, ::getpid())).string();
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

std::vector<JobStatus> run_graph_distributed(const Plan& plan, const cache::Cache& cache, const GraphOptions& opts,
                                             const RunDir* run_dir, const std::function<void(const std::string&)>& log,
                                             dist::Group& group) {
  const bool root = group.rank() == 0;
  {  // Every rank must plan the same jobs under the same keys (same spec, same model files, same device class).
    std::string mine;
    for (const Job& j : plan.jobs) mine += j.label + "=" + j.key.hex + " " + j.dtype_device + "\n";
    const std::vector<std::string> all = group.all_gather(mine);
    for (int r = 1; r < group.size(); ++r)
      if (all[size_t(r)] != all[0])
        fail(
            "rank {} planned other jobs or keys than rank 0 (a different spec, model file, --set or device; "
            "rank 0: {} jobs, first {}; rank {}: first {}): every rank must see the same inputs",
            r, plan.jobs.size(), all[0].substr(0, all[0].find('\n')), r,
            all[size_t(r)].substr(0, all[size_t(r)].find('\n')));
  }
  std::vector<JobStatus> st(plan.jobs.size());
  for (size_t i = 0; i < plan.jobs.size(); ++i) {
    const Job& j = plan.jobs[i];
    const auto t0 = std::chrono::steady_clock::now();
    const uint64_t sent0 = group.bytes_sent();
    std::string cancelled;
    for (int d : j.deps)
      if (cancelled.empty() && st[size_t(d)].state != JobState::Hit && st[size_t(d)].state != JobState::Run)
        cancelled = plan.jobs[size_t(d)].label;
    if (!cancelled.empty()) {  // the same on every rank: the statuses agree
      st[i] = {JobState::Cancelled, fmt::format("upstream '{}' did not succeed", cancelled)};
      log(fmt::format("CANCELLED {}: upstream '{}' did not succeed", j.label, cancelled));
      continue;
    }
    try {
      const bool force = forced(opts, j);
      std::string decision;
      if (root) {
        std::string why;
        bool hit = false;
        try {  // a probe that cannot read the entry means RUN (the stage then reports what is wrong)
          hit = !force && (j.kind->probe ? j.kind->probe(j, cache, &why) == JobState::Hit
                                         : cache.lookup(j.key, &why).has_value());
        } catch (const std::exception&) {
          hit = false;
        }
        decision = hit ? "hit" : "run";
      }
      decision = group.broadcast(decision, 0);
      // A forced teacher resets its entry: rank 0 alone, so no rank fills shards that are being deleted.
      const bool shares = (j.kind->collective || (j.kind->probe && !force));
      const bool takes_part = decision == "run" && (root || shares);
      std::vector<const Job*> deps;
      for (int d : j.deps) deps.push_back(&plan.jobs[size_t(d)]);
      StageRun ctx{j, deps, cache, cache.dir(j.key), root ? run_dir : nullptr, log, force && root, &group};
      std::string error;
      JobState state = decision == "hit" ? JobState::Hit : JobState::Run;
      std::string reason = decision == "hit" ? "cached" : force ? "forced (--force)" : "not cached";
      try {
        if (takes_part && j.kind->probe) {
          j.kind->run(ctx);
        } else if (takes_part && root) {
          // Collective: the others start only when rank 0 holds the entry's lock and computes it ("go"); a
          // concurrent run may have committed it meanwhile ("hit") or the lock may fail ("stop").
          bool told = false;
          auto tell = [&](const std::string& verdict) {
            if (j.kind->collective && !told) group.post(fmt::format("verdict/{}", i), verdict);
            told = true;
          };
          try {
            const cache::Cache::Outcome done = cache.compute_or_get(
                j.key,
                [&](const std::string& dir, const std::string& why) {
                  tell("go");
                  log(fmt::format("RUN {} ({}; {} ranks)", j.label, why, group.size()));
                  ctx.out_dir = dir;
                  auto [files, extra] = j.kind->run(ctx);
                  return cache::Cache::Computed{files, extra};
                },
                ctx.force);
            if (done.hit) state = JobState::Hit, reason = "cached by a concurrent run";
            tell("hit");
          } catch (...) {
            tell("stop");
            throw;
          }
        } else if (takes_part) {  // a collective stage on a non-zero rank: its share, once rank 0 computes
          if (group.await(fmt::format("verdict/{}", i)) == "go") {
            Scratch scratch(group.rank(), i);
            ctx.out_dir = scratch.path;
            j.kind->run(ctx);
          }
        }
        if (root && j.kind->publish) j.kind->publish(ctx);
      } catch (const std::exception& e) {
        error = e.what();
      }
      // Rank 0's serial stages may take hours: the others wait on the store, where a dead rank 0 shows at once.
      if (decision == "run" && !shares) {
        const std::string done = fmt::format("done/{}", i);
        if (root)
          group.post(done);
        else
          group.await(done);
      }
      const std::vector<std::string> errors = group.all_gather(error);
      for (int r = 0; r < group.size() && st[i].error.empty(); ++r)
        if (!errors[size_t(r)].empty()) st[i].error = fmt::format("rank {}: {}", r, errors[size_t(r)]);
      st[i].seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!st[i].error.empty()) {
        st[i].state = JobState::Failed;
        log(fmt::format("FAILED {}: {}", j.label, st[i].error));
        continue;
      }
      st[i].state = state, st[i].reason = reason;
      log(fmt::format("{} {} [{}] {:.2f} s, {:.1f} KiB sent to the group", state == JobState::Hit ? "HIT" : "DONE",
                      j.label, j.key.hex.substr(0, 12), st[i].seconds, double(group.bytes_sent() - sent0) / 1024.0));
    } catch (const std::exception& e) {
      // The group itself failed (a rank died or timed out): no rank can agree on anything more.
      st[i].state = JobState::Failed;
      st[i].error = e.what();
      log(fmt::format("FAILED {}: {}", j.label, st[i].error));
      for (size_t k = i + 1; k < plan.jobs.size(); ++k) st[k] = {JobState::Cancelled, "the process group failed"};
      break;
    }
  }
  return st;
}

}  // namespace dsx
