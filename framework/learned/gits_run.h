#pragma once
// GITS from teacher trajectories to a schedule: the cost matrix over every trajectory, the DP, and the
// optional AFS insertion (the student with AFS on the last trajectories picks the point after σ_max). One
// procedure for the search_schedule stage (trajectories from the teacher cache) and `dsx gits` (from a
// teacher run in memory).
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "core/options.h"
#include "learned/gits.h"
#include "learned/learned_schedule.h"

namespace dsx {

class Denoiser;
namespace dist {
class Group;
}

struct GitsSettings {
  int64_t nfe = 5;  // student steps K
  double coeff = 1.15;
  std::string metric = "dev";
  bool afs = false;
  std::string student = "ipndm";  // the solver that picks the AFS point
  std::map<std::string, RawOption> student_options;
  int64_t afs_samples = 64;  // the last trajectories it is picked on
};

struct GitsResult {
  LearnedSchedule schedule;  // method "gits", σ values and indices, settings in info
  at::Tensor cost;           // [N, N] float64
  GitsPath path;             // the DP's path, before any AFS insertion
};

// rows(first, count) → (states [count, N, *shape], directions [count, N − 1, *shape]) of `total` trajectories
// on `grid`; `model` runs the AFS student (unused without afs); `log` gets one line per AFS candidate.
// With a group (a multi-process run; every rank calls it), batch b of the cost matrix is computed by rank
// b mod ranks and its sums go to every rank, merged in batch order: the matrix, the path and the grid are
// one process's to the bit on every rank.
using TrajectoryRows = std::function<std::pair<at::Tensor, at::Tensor>(int64_t first, int64_t count)>;
GitsResult run_gits(const GitsSettings& s, const std::vector<double>& grid, int64_t total, const TrajectoryRows& rows,
                    const Denoiser& model, const std::function<void(const std::string&)>& log,
                    dist::Group* group = nullptr);

}  // namespace dsx
