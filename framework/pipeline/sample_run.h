#pragma once
// Executes a SampleConfig: latents → x_T = σ_max·z → solver over the schedule → samples at σ_min, with
// the NFE seen by the counting wrapper and, for exact testbeds, the RMSE to the exact ODE solution.
#include <optional>
#include <vector>

#include "pipeline/sample_config.h"

namespace dsx {

struct SampleOutcome {
  at::Tensor samples;  // on the CPU
  int64_t nfe = 0;
  std::optional<double> rmse;  // vs the exact/reference solution at σ_min
  std::vector<double> sigmas;
  double seconds = 0;  // solver wall time (reference excluded)
  std::string device;
};

// Runs and writes `config.output` atomically (temporary name, then rename).
SampleOutcome run_sample(const SampleConfig& config);

}  // namespace dsx
