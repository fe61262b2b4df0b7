#pragma once
// Teacher trajectories for AMED training: a teacher solver on the (M+1)-refined student grid, keeping
// the state at every student grid point. Written batch by batch into row-appendable HDF5 datasets, so
// memory does not grow with the number of samples.
//
//   file layout            shape                      meaning
//   states                 [N, P, *sample_shape]      x at the P student points (index 0 = x_T = σ_max z)
//   features               [N, P−1, 8, 8]             channel-mean bottleneck of the teacher's last
//                                                     evaluation at σ_i (only if the model has one)
//   directions             [N, P−1, *sample_shape]    raw directions (x_i − D(x_i, σ_i))/σ_i of that
//                                                     evaluation (only with TeacherSpec::directions: GITS)
//   seeds                  [N]                        per-sample noise seeds
//   sigmas / teacher_sigmas [P] / [(M+1)(P−1)+1]
//   attributes: config, model_fingerprint, teacher, m, nfe_per_sample, num_samples, complete (written last)
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/options.h"
#include "diffusion/schedule.h"
#include "models/denoiser.h"
#include "solvers/solver.h"
#include "store/h5.h"

namespace dsx {

// The teacher "solver" that is the model's exact ODE solution (ExactOde: closed forms, the mixtures' accurate
// reference): states x(σ_i) chained from x_T point to point, no refinement (m = 0). Its features and
// directions come from one model call at each student point but the last.
inline constexpr const char* kExactTeacher = "exact";

struct TeacherSpec {
  std::string solver = "heun";  // a catalog solver, or kExactTeacher
  std::map<std::string, RawOption> solver_options;
  int m = 1;
  // Also keep the raw direction at each student point (GITS's cost matrix). With an AFS teacher the first
  // one is the analytic x/√(1 + σ²), as the official GITS code gets it (its teacher keeps afs).
  bool directions = false;
  ScheduleSpec student_schedule;
  // A grid another stage learned (a teacher stage's `schedule: {kind: learned, from: STAGE}`): that
  // artifact's identity. The key names it instead of student_schedule, so the key exists before the grid
  // does; the stage fills student_schedule in (explicit) when it runs.
  std::string grid_source;
  std::vector<int64_t> seeds;
  int64_t batch = 256;
  int workers = 1;  // batches computed concurrently (run_teacher_batches); never changes the content
  at::ScalarType dtype = at::kFloat;
  std::string config_yaml;  // provenance, stored as an attribute
};

struct TeacherReport {
  int64_t samples = 0;
  int64_t nfe_per_sample = 0;
  double seconds = 0;
};

using Progress = std::function<void(int64_t done, int64_t total)>;

// ---- Building blocks shared by generate_teacher and the shard store (amed/teacher_store.h) ----

// Grids, solver and model validated once; run() turns one batch of seeds into its trajectories. The
// result for a seed depends only on that seed (per-seed noise, per-sample arithmetic), never on which
// batch it was in.
class TeacherPlan {
 public:
  // Runs the model in spec.dtype on device (a converted copy when it lives elsewhere).
  TeacherPlan(const TeacherSpec& spec, const ModelPtr& model, at::Device device);
  const TeacherSpec& spec() const { return spec_; }
  const std::vector<double>& student() const { return student_; }
  const std::vector<double>& teacher() const { return teacher_; }
  const ModelInfo& info() const { return model_->info(); }

  struct Batch {
    int64_t index = 0;  // position in the run: the writer consumes batches in this order
    std::vector<int64_t> seeds;
    at::Tensor states;      // [B, P, *sample_shape]
    at::Tensor features;    // [B, P−1, 8, 8] or undefined
    at::Tensor directions;  // [B, P−1, *sample_shape] or undefined
    int64_t nfe = 0;        // per sample
  };
  // Safe to call from several threads: models are stateless (models/denoiser.h).
  Batch run(std::vector<int64_t> seeds, int64_t index) const;

 private:
  TeacherSpec spec_;
  ModelPtr model_;
  at::Device device_;
  // The states at the student points of batch `z` (x_T = σ_max z), through `tap`.
  std::vector<at::Tensor> solve(const at::Tensor& z, const Denoiser& tap) const;
  std::vector<double> student_, teacher_;
  std::unique_ptr<Solver> solver_;  // null for the exact teacher
};

// Runs `batches` through a oneTBB flow graph shaped like oneTBB's fgbzip2 example:
//   input → limiter (≤ workers + 1 batches alive) → `workers` parallel runs → sequencer → serial write
// so memory is bounded by the batches in flight, not the sample count, and `write` (called on one
// thread at a time, in batch order) can append to HDF5, which serialises all calls anyway. One level of
// parallelism: with workers > 1, LibTorch intra-op threads are set to 1 while it runs (restored after).
void run_teacher_batches(const TeacherPlan& plan, const std::vector<std::vector<int64_t>>& batches, int workers,
                         const std::function<void(TeacherPlan::Batch&)>& write);

// The single-file layout above, piece by piece (shards of the store use the same layout).
void append_teacher_batch(h5::File& f, const TeacherPlan& plan, const TeacherPlan::Batch& b);
// Grids and attributes; `complete` is written last.
void finish_teacher_file(h5::File& f, const TeacherPlan& plan, int64_t samples, int64_t nfe,
                         const std::string& provenance);

TeacherReport generate_teacher(const TeacherSpec& spec, const ModelPtr& model, at::Device device,
                               const std::string& output, const Progress& progress = {});

}  // namespace dsx
