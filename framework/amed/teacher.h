#pragma once
// Teacher trajectories for AMED training: a teacher solver on the (M+1)-refined student grid, keeping
// the state at every student grid point. Written batch by batch into row-appendable HDF5 datasets, so
// memory does not grow with the number of samples.
//
//   file layout            shape                      meaning
//   states                 [N, P, *sample_shape]      x at the P student points (index 0 = x_T = σ_max z)
//   features               [N, P−1, 8, 8]             channel-mean bottleneck of the teacher's last
//                                                     evaluation at σ_i (only if the model has one)
//   seeds                  [N]                        per-sample noise seeds
//   sigmas / teacher_sigmas [P] / [(M+1)(P−1)+1]
//   attributes: config, model_fingerprint, teacher, m, nfe_per_sample, num_samples, complete (written last)
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/options.h"
#include "diffusion/schedule.h"
#include "models/denoiser.h"

namespace dsx {

struct TeacherSpec {
  std::string solver = "heun";
  std::map<std::string, RawOption> solver_options;
  int m = 1;
  ScheduleSpec student_schedule;
  std::vector<int64_t> seeds;
  int64_t batch = 256;
  at::ScalarType dtype = at::kFloat;
  std::string config_yaml;  // provenance, stored as an attribute
};

struct TeacherReport {
  int64_t samples = 0;
  int64_t nfe_per_sample = 0;
  double seconds = 0;
};

using Progress = std::function<void(int64_t done, int64_t total)>;

TeacherReport generate_teacher(const TeacherSpec& spec, Denoiser& model, at::Device device,
                               const std::string& output, const Progress& progress = {});

}  // namespace dsx
