#pragma once
// Time-step schedules: num_steps grid points σ_0 = σ_max > … > σ_{N−1} = σ_min in EDM σ̂, computed in
// double precision (docs/amed.md §2, docs/solvers.md §4). Each kind is a registry entry.
#include <functional>
#include <string>
#include <vector>

#include "core/options.h"

namespace dsx {

class NoiseProcess;

struct ScheduleSpec {
  std::string kind = "polynomial";
  int num_steps = 0;  // grid points (num_steps − 1 intervals), as in diff-sampler
  double sigma_min = 0.002;
  double sigma_max = 80.0;
  double rho = 7.0;            // polynomial, time_uniform, discrete
  double k = 3.1;              // nsr
  double eps_s = 1e-3;         // time_uniform/time_quadratic on a VE model: end time of the fitted VP clock
  std::vector<double> sigmas;  // explicit
};

struct ScheduleKind {
  std::string name;
  std::string description;
  // This kind's own keys with their defaults, ranges and help (besides schedule_keys()); a spec giving a key
  // of another kind is an error. The defaults are ScheduleSpec's.
  std::vector<OptionSpec> options;
  std::function<std::vector<double>(const ScheduleSpec&, const NoiseProcess*)> make;
};

// The keys every kind reads: kind, num_steps, sigma_min, sigma_max (the σ defaults are the model's).
const std::vector<OptionSpec>& schedule_keys();
const std::vector<ScheduleKind>& schedule_kinds();
const ScheduleKind& schedule_kind(const std::string& name);  // error lists the allowed kinds

// Validates the spec (num_steps ≥ 2, 0 < σ_min < σ_max, ρ > 0, ...) and builds the grid. `process` is the
// model's noise process (may be null = VE); time-based kinds use it, or a fitted VP clock for VE models.
std::vector<double> make_schedule(const ScheduleSpec& spec, const NoiseProcess* process = nullptr);

// Strictly decreasing and positive, at least 2 points; `what` names the list in the error.
void validate_sigma_grid(const std::vector<double>& sigmas, const std::string& what);

// One tolerance for "the same σ" across dsx: 1e-6 relative. Grids are computed in float64 but a float32 run
// holds them rounded to float32 (relative error ≤ 6e-8), and distinct points of any grid dsx builds differ
// by far more (≥ 1e-3 relative for 1000 steps), so 1e-6 tells "the same point, rounded" from "another point".
constexpr double kSameSigmaRtol = 1e-6;
bool same_sigma(double a, double b);
bool same_grid(const std::vector<double>& a, const std::vector<double>& b);

// The teacher grid of AMED: the same schedule with (M+1)(N−1)+1 points (every student point included).
ScheduleSpec refined(const ScheduleSpec& spec, int m);

}  // namespace dsx
