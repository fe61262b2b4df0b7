#pragma once
// Executes a SampleConfig: latents → x_T = σ_max·z → solver over the schedule → samples at σ_min, with
// the NFE seen by the counting wrapper and, for exact testbeds, the RMSE to the exact ODE solution.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/sample_config.h"
#include "store/cache.h"

namespace dsx {

struct SampleOutcome {
  at::Tensor samples;  // on the CPU
  int64_t nfe = 0;
  std::optional<double> rmse;  // vs the exact/reference solution at σ_min
  double reference_seconds = 0;
  std::string reference_note;  // how the reference was obtained (cached, computed) or why it was skipped
  std::vector<double> sigmas;
  double seconds = 0;  // solver wall time (reference excluded)
  std::string device;
};

// Runs and writes `config.output` atomically (temporary name, then rename). With a cache, the exact ODE
// solution of seeded latents is the evaluate stages' cached artifact (pipeline/ode_reference.h); `log`
// gets the reference's progress line.
SampleOutcome run_sample(const SampleConfig& config, const cache::Cache* cache = nullptr,
                         const std::function<void(const std::string&)>& log = {});

}  // namespace dsx
