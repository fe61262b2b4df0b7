#pragma once
// A ScheduleSpec as HDF5 root attributes: "schedule_kind" plus prefix + {num_steps, sigma_min, sigma_max,
// rho, k, eps_s}, and an explicit kind's σ list as the float64 dataset "schedule_sigmas". Trajectory files
// use the prefix "schedule_"; predictor files use none, like the official checkpoints' attribute names.
#include <string>

#include "diffusion/schedule.h"
#include "store/h5.h"

namespace dsx::h5 {

void write_schedule_attrs(File& f, const ScheduleSpec& s, const std::string& prefix);
// Reads what write_schedule_attrs wrote.
ScheduleSpec read_schedule_attrs(const File& f, const std::string& prefix);

}  // namespace dsx::h5
