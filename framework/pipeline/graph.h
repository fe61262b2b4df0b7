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

// Whether --force names the job (its stage, its label, or "all").
bool forced(const GraphOptions& o, const Job& j);
// Fills job.key of every job (in order). Must run before plan_status / run_graph.
void compute_keys(Plan& plan);
// What running would do for each job, and why.
std::vector<JobStatus> plan_status(const Plan& plan, const cache::Cache& cache, const GraphOptions& opts);
// Runs every job; returns the final statuses (same order as plan.jobs).
std::vector<JobStatus> run_graph(const Plan& plan, const cache::Cache& cache, const GraphOptions& opts,
                                 const RunDir* run_dir, const std::function<void(const std::string&)>& log);

// The same on every rank of a multi-process run (pipeline/distributed_graph.cpp), one job after another in
// plan order: rank 0 decides HIT/RUN and owns the entries of ordinary stages and the run directory
// (run_dir: null on the others); collective stages share their work over the group, self-managed ones
// (teacher) split it through the cache's claims; every rank ends with the same statuses (a failure on any
// rank fails the job everywhere, naming the rank).
std::vector<JobStatus> run_graph_distributed(const Plan& plan, const cache::Cache& cache, const GraphOptions& opts,
                                             const RunDir* run_dir, const std::function<void(const std::string&)>& log,
                                             dist::Group& group);

}  // namespace dsx
