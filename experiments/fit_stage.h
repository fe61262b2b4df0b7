#pragma once
// What the end-to-end learning stages (learn_schedule, train_epd) share around learned/endpoint_fit.h: the
// teacher's end points as training pairs, progress lines, and the training curve as history.csv and a plot.
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "learned/endpoint_fit.h"
#include "pipeline/spec.h"

namespace dsx {

struct TeacherEndPoints {
  at::Tensor x_T, target;      // [N, *shape] float64: the teacher's first and last states, in seed order
  std::vector<double> sigmas;  // the teacher's grid (σ_max first)
};
// Read under the teacher entry's shared lock.
TeacherEndPoints teacher_end_points(const StageRun& ctx, const Job& teacher);

// A progress line every 10 validations and at the end.
std::function<void(const FitProgress&)> fit_logger(const StageRun& ctx, const FitSettings& s);

// history.csv (iteration, train_rmse, validation_rmse; row 0 = the start) and learning.png; the file names.
std::vector<std::string> write_fit_curve(const StageRun& ctx, const FitResult& r, const std::string& title);

}  // namespace dsx
