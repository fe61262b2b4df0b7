#pragma once
// AMED predictor training against cached teacher trajectories, with the official procedure
// (docs/amed.md §7): per batch of trajectories, one Adam step per student interval; loss = squared L2
// over pixels averaged over the batch at the student grid point; gradients through the frozen model;
// teacher forcing for single-step students, the student's own (detached) outputs for multistep ones;
// NaN-safe gradients. Deterministic for a fixed seed and thread count.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "amed/predictor.h"
#include "amed/settings.h"
#include "amed/student.h"
#include "dist/data_parallel.h"
#include "models/denoiser.h"
#include "store/h5.h"

namespace dsx {

struct TrainSpec {
  AmedSettings settings;  // student, afs, heads, max_order, ...; schedule/teacher/m come from the file
  FeatureMode features = FeatureMode::Model;
  // Per step (official): an Adam step per interval on its own error, the student restarted from the teacher
  // (single-step students) or from its own detached state. Joint: the student runs the whole trajectory with
  // gradients through every step (multistep history included) and one Adam step takes the summed error.
  bool joint = false;
  int64_t batch = 128;
  double lr = 5e-3;
  uint64_t seed = 0;        // predictor initialisation
  int64_t max_samples = 0;  // 0 = every trajectory in the file
  at::ScalarType dtype = at::kFloat;
};

struct TrainStepLog {
  int64_t iteration = 0;  // batch index
  int step = 0;           // student interval
  double loss = 0;
  double r_mean = 0, r_std = 0, c_mean = 1, a_mean = 1;
};

struct TrainReport {
  int64_t adam_steps = 0;
  int64_t samples = 0;
  double seconds = 0;
  AmedSettings settings;  // as trained (schedule, teacher, m filled from the trajectory file)
};

// Where training reads teacher trajectories from: one file (generate_teacher's layout) or the shard
// store of the cache (amed/teacher_store.h). Rows are the samples, in a fixed order.
class TrajectorySource {
 public:
  virtual ~TrajectorySource() = default;
  virtual int64_t size() const = 0;
  // states rows [first, first + count): [count, P, *sample_shape] on the CPU.
  virtual at::Tensor states(int64_t first, int64_t count, at::ScalarType dtype) const = 0;
  // The seeds of rows [first, first + count) (a class-conditional model's labels come from them).
  virtual std::vector<int64_t> seeds(int64_t first, int64_t count) const = 0;
  // A complete teacher file carrying the schedule/teacher attributes and `sigmas` of every row.
  virtual std::string attributes_path() const = 0;
};

// The single-file layout of amed/teacher.h.
class TrajectoryFile : public TrajectorySource {
 public:
  explicit TrajectoryFile(std::string path);
  int64_t size() const override;
  at::Tensor states(int64_t first, int64_t count, at::ScalarType dtype) const override;
  std::vector<int64_t> seeds(int64_t first, int64_t count) const override;
  std::string attributes_path() const override { return path_; }

 private:
  std::string path_;
  h5::File file_;
};

// Reads the trajectory file's schedule/teacher attributes into `settings` and checks the file is complete,
// made with this model, and matches the settings.
AmedSettings settings_from_trajectories(const std::string& path, const Denoiser& model, AmedSettings settings);

TrainReport train_amed(const TrainSpec& spec, const ModelPtr& model, at::Device device, const std::string& trajectories,
                       AmedPredictor& net, const std::function<void(const TrainStepLog&)>& on_step = {});
// With `dp` active (a multi-process run), data-parallel: every rank calls it, each takes its part of every
// batch (dist/data_parallel.h) and all end with the same predictor; on_step sees the global loss.
TrainReport train_amed(const TrainSpec& spec, const ModelPtr& model, at::Device device,
                       const TrajectorySource& trajectories, AmedPredictor& net,
                       const std::function<void(const TrainStepLog&)>& on_step = {}, const dist::DataParallel& dp = {});

// True for students whose training input is the teacher point (AMED-Solver, Euler, DPM-Solver-2).
bool single_step_student(const std::string& student);

}  // namespace dsx
