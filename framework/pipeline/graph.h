#pragma once
// Executes a Plan: cache keys for every job (upstream keys included), HIT/RUN statuses with reasons (the
// dry run), and the run itself on a oneTBB flow graph, one continue_node per job. A failing job cancels
// its dependants, never unrelated jobs; every failure is reported.
#include <set>
#include <string>
#include <vector>

#include "pipeline/spec.h"

namespace dsx {

struct RunDir;

using cache::JobState;

struct JobStatus {
  JobStatus() = default;
  JobStatus(JobState s, std::string r) : state(s), reason(std::move(r)) {}
  JobState state = JobState::Run;  // Hit | Extend | Run (plan); after running: Hit | Run | Failed | Cancelled
  std::string reason;
  std::string error;
  double seconds = 0;
};

struct GraphOptions {
  std::set<std::string> force;  // stage names or labels; "all"
  bool dry_run = false;
};

// Fills job.key of every job (in order). Must run before plan_status / run_graph.
void compute_keys(Plan& plan);
// What running would do for each job, and why.
std::vector<JobStatus> plan_status(const Plan& plan, const cache::Cache& cache, const GraphOptions& opts);
// Runs every job; returns the final statuses (same order as plan.jobs).
std::vector<JobStatus> run_graph(const Plan& plan, const cache::Cache& cache, const GraphOptions& opts,
                                 const RunDir* run_dir, const std::function<void(const std::string&)>& log);

}  // namespace dsx
