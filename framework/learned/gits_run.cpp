#include "learned/gits_run.h"

#include <ATen/ATen.h>

#include <limits>

#include <fmt/format.h>

#include "amed/solver_catalog.h"
#include "core/error.h"
#include "dist/group.h"
#include "models/denoiser.h"
#include "solvers/solver.h"

namespace dsx {
namespace {

// Trajectories per cost-matrix batch (memory; the unit of work the ranks of a multi-process run share).
constexpr int64_t kCostBatch = 64;

// For k = 1 .. p_1 − 1, the grid with index k inserted after 0, sampled by the student with AFS from the
// trajectories' x_T; keeps the k whose mean L2 distance to the teacher's end is smallest (the first on ties).
std::vector<int64_t> insert_afs_point(const GitsSettings& s, const std::vector<int64_t>& path,
                                      const std::vector<double>& grid, const at::Tensor& x_t, const at::Tensor& end,
                                      const Denoiser& model, const std::function<void(const std::string&)>& log) {
  auto options = s.student_options;
  options["afs"] = RawOption{"true", "gits"};
  const std::unique_ptr<Solver> solver = make_solver(s.student, options);
  const ModelInfo& info = model.info();
  int64_t best = -1;
  double best_err = std::numeric_limits<double>::infinity();
  for (int64_t k = 1; k < path[1]; ++k) {
    std::vector<int64_t> candidate = path;
    candidate.insert(candidate.begin() + 1, k);
    std::vector<double> sigmas;
    for (int64_t i : candidate) sigmas.push_back(grid[size_t(i)]);
    check_grid(*solver, sigmas, s.student);
    at::NoGradGuard no_grad;
    const at::Tensor x = solver->sample(model, x_t.to(info.device, info.dtype), sigmas).to(at::kCPU, at::kDouble);
    const double err = (x - end).reshape({x.size(0), -1}).norm(2, {1}).mean().item<double>();
    if (log) log(fmt::format("    afs point {} (σ {:.4g}): error {:.6g}", k, grid[size_t(k)], err));
    if (err < best_err) best_err = err, best = k;
  }
  std::vector<int64_t> out = path;
  if (best > 0) out.insert(out.begin() + 1, best);  // none when p_1 = 1: nothing fits between
  return out;
}

}  // namespace

GitsResult run_gits(const GitsSettings& s, const std::vector<double>& grid, int64_t total, const TrajectoryRows& rows,
                    const Denoiser& model, const std::function<void(const std::string&)>& log, dist::Group* group) {
  const int64_t n = int64_t(grid.size());
  if (s.nfe > n - 1) fail("gits: nfe = {} steps do not fit a grid of {} points (at most {})", s.nfe, n, n - 1);
  if (total < 1) fail("gits: no trajectories");
  GitsCost cost(grid, gits_metric(s.metric));
  const int ranks = group ? group->size() : 1, rank = group ? group->rank() : 0;
  const int64_t batches = (total + kCostBatch - 1) / kCostBatch;
  std::vector<at::Tensor> mine(static_cast<size_t>(batches));
  for (int64_t b = rank; b < batches; b += ranks) {
    GitsCost part(grid, gits_metric(s.metric));
    auto [states, directions] = rows(b * kCostBatch, std::min(kCostBatch, total - b * kCostBatch));
    part.add(states, directions);
    mine[size_t(b)] = part.sums();
  }
  for (int64_t b = 0; b < batches; ++b) {
    at::Tensor sums = mine[size_t(b)];
    if (group) {
      if (!sums.defined()) sums = at::empty({n, n}, at::kDouble);
      group->broadcast(sums, int(b % ranks));
    }
    cost.merge(sums, std::min(kCostBatch, total - b * kCostBatch));
  }
  GitsResult r;
  r.cost = cost.matrix();
  r.path = gits_search(r.cost, s.nfe, s.coeff);
  std::vector<int64_t> indices = r.path.indices;
  if (s.afs) {
    const int64_t m = std::min(s.afs_samples, total);
    const at::Tensor states = rows(total - m, m).first.to(at::kDouble);
    indices = insert_afs_point(s, indices, grid, states.select(1, 0), states.select(1, n - 1), model, log);
  }
  LearnedSchedule& out = r.schedule;
  out.method = "gits";
  out.indices = indices;
  for (int64_t i : indices) out.sigmas.push_back(grid[size_t(i)]);
  out.afs = s.afs;
  out.info = {{"metric", s.metric},      {"coeff", s.coeff},      {"nfe", s.nfe},
              {"dp_value", r.path.cost}, {"trajectories", total}, {"teacher_sigmas", grid}};
  return r;
}

}  // namespace dsx
