#include "pipeline/graph.h"

#include <tbb/flow_graph.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"

namespace dsx {
namespace fs = std::filesystem;

void compute_keys(Plan& plan) {
  for (auto& j : plan.jobs) {
    j.upstream.clear();
    for (int d : j.deps) {
      const Job& dep = plan.jobs[d];
      j.upstream.push_back(dep.kind->output_id ? dep.kind->output_id(dep) : dep.key.hex);
    }
    j.key = j.kind->key ? j.kind->key(j)
                        : cache::CacheKey::of(j.kind->name, j.kind->version, j.params, j.upstream, j.model_fingerprint,
                                              j.dtype_device);
  }
}

bool forced(const GraphOptions& o, const Job& j) {
  return o.force.count("all") || o.force.count(j.stage) || o.force.count(j.label);
}

namespace {

// Why an entry is missing: the closest complete entry of the same kind and what differs.
std::string miss_reason(const Job& j, const cache::Cache& cache, const std::string& why) {
  if (!why.empty()) return why;
  std::vector<std::string> best;
  bool found = false;
  for (const auto& e : cache.list()) {
    if (e.kind != j.kind->name || !e.complete() || e.key == j.key.hex) continue;
    if (e.meta.value("model", std::string()) != j.model_fingerprint) continue;
    auto d = cache::diff_params(e.meta.value("params", cache::json::object()), j.key.params);
    if (!found || d.size() < best.size()) best = d, found = true;
  }
  if (!found) return "not cached";
  if (best.empty()) return "same params as a cached entry, but an upstream artifact or dtype/device changed";
  return fmt::format("params changed vs nearest cached entry: {}", fmt::join(best, "; "));
}

}  // namespace

std::vector<JobStatus> plan_status(const Plan& plan, const cache::Cache& cache, const GraphOptions& opts) {
  std::vector<JobStatus> st(plan.jobs.size());
  for (size_t i = 0; i < plan.jobs.size(); ++i) {
    const Job& j = plan.jobs[i];
    if (forced(opts, j)) {
      st[i] = {JobState::Run, "forced (--force)"};
      continue;
    }
    std::string why;
    JobState state;
    if (j.kind->probe) {
      state = j.kind->probe(j, cache, &why);
    } else {
      state = cache.lookup(j.key, &why) ? JobState::Hit : JobState::Run;  // with checksums: a corrupt file is a RUN too
      if (state == JobState::Run) why = miss_reason(j, cache, why);
    }
    if (state == JobState::Hit) {
      for (int d : j.deps)
        if (st[d].state != JobState::Hit) {
          state = JobState::Run;
          why = fmt::format("upstream '{}' will {}", plan.jobs[d].label,
                            st[d].state == JobState::Extend ? "extend" : "run");
          // A HIT downstream of an EXTEND/RUN stays a HIT when its key is unchanged (teacher extension keeps the key).
          if (cache.lookup(j.key, nullptr)) state = JobState::Hit, why = "cached";
          break;
        }
      if (why.empty()) why = "cached";
    }
    st[i] = {state, why};
  }
  return st;
}

std::vector<JobStatus> run_graph(const Plan& plan, const cache::Cache& cache, const GraphOptions& opts,
                                 const RunDir* run_dir, const std::function<void(const std::string&)>& log) {
  const size_t n = plan.jobs.size();
  std::vector<JobStatus> st(n);
  std::vector<std::atomic<int>> ok(n);  // 0 pending, 1 done, 2 failed/cancelled
  for (auto& o : ok) o = 0;
  tbb::flow::graph g;
  std::vector<std::unique_ptr<tbb::flow::continue_node<tbb::flow::continue_msg>>> nodes;
  for (size_t i = 0; i < n; ++i) {
    nodes.push_back(
        std::make_unique<tbb::flow::continue_node<tbb::flow::continue_msg>>(g, [&, i](const tbb::flow::continue_msg&) {
          const Job& j = plan.jobs[i];
          for (int d : j.deps)
            if (ok[d] != 1) {
              st[i] = {JobState::Cancelled, fmt::format("upstream '{}' did not succeed", plan.jobs[d].label)};
              ok[i] = 2;
              log(fmt::format("CANCELLED {}: upstream '{}' did not succeed", j.label, plan.jobs[d].label));
              return;
            }
          std::vector<const Job*> deps;
          for (int d : j.deps) deps.push_back(&plan.jobs[d]);
          auto t0 = std::chrono::steady_clock::now();
          StageRun ctx{j, deps, cache, cache.dir(j.key), run_dir, log, forced(opts, j)};
          try {
            if (j.kind->probe) {  // manages its own entry
              std::string why;
              JobState state = ctx.force ? JobState::Run : j.kind->probe(j, cache, &why);
              if (state != JobState::Hit) {
                json done = j.kind->run(ctx).second;
                // Another process computed it while this one waited for the key's lock.
                if (done.value("computed", int64_t(-1)) == 0) state = JobState::Hit, why = "cached by a concurrent run";
              }
              st[i] = {state, state == JobState::Hit && why.empty() ? "cached" : why};
            } else {
              cache::Cache::Outcome done = cache.compute_or_get(
                  j.key,
                  [&](const std::string& dir, const std::string& reason) {
                    log(fmt::format("RUN {} ({})", j.label, reason));
                    ctx.out_dir = dir;
                    auto [files, extra] = j.kind->run(ctx);
                    return cache::Cache::Computed{files, extra};
                  },
                  ctx.force);
              st[i] = done.hit ? JobStatus{JobState::Hit, "cached"} : JobStatus{JobState::Run, done.reason};
            }
            if (j.kind->publish) j.kind->publish(ctx);
            st[i].seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            log(fmt::format("{} {} [{}] {:.2f} s", st[i].state == JobState::Hit ? "HIT" : "DONE", j.label,
                            j.key.hex.substr(0, 12), st[i].seconds));
            ok[i] = 1;
          } catch (const std::exception& e) {
            st[i].state = JobState::Failed;
            st[i].error = e.what();
            st[i].seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            ok[i] = 2;
            log(fmt::format("FAILED {}: {}", j.label, e.what()));
          }
        }));
  }
  for (size_t i = 0; i < n; ++i)
    for (int d : plan.jobs[i].deps) tbb::flow::make_edge(*nodes[d], *nodes[i]);
  for (size_t i = 0; i < n; ++i)
    if (plan.jobs[i].deps.empty()) nodes[i]->try_put(tbb::flow::continue_msg());
  g.wait_for_all();
  return st;
}

}  // namespace dsx
