#pragma once
// What the `dsx bench` subcommands share: a model-time tap, medians of repeated runs, timing one solver run.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "models/denoiser.h"

namespace dsx {
class Solver;
}

namespace dsx::cli {

using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Accumulates the time spent inside the model and counts its calls.
class TimedDenoiser : public DenoiserDecorator {
 public:
  using DenoiserDecorator::DenoiserDecorator;
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out = nullptr) const override;
  mutable double seconds = 0;  // one timer per run
  mutable int64_t calls = 0;
};

double median(std::vector<double> v);

// The benchmarks' input: unit noise of seeds 0..count−1 in the sample shape (core/noise.h's seeded_noise).
at::Tensor bench_latents(int64_t count, const std::vector<int64_t>& shape, at::ScalarType dtype);

struct SolverTiming {
  double seconds = 0, model_seconds = 0;
  int64_t calls = 0;
  int64_t update_bytes = 0;  // read and written by the solver's fused updates (solvers/lincomb.h)
  at::Tensor x;
};
// One sampling run from x_T = σ_0·z (the caller's input, not solver work).
SolverTiming time_solver(const Solver& solver, const Denoiser& model, const at::Tensor& z,
                         const std::vector<double>& sigmas);

// The `model:` mapping of a YAML file (a sample config or an experiment spec), in dtype on the CPU.
ModelPtr model_of(const std::string& config, at::ScalarType dtype);
// "gaussian_mixture [3, 32, 32]"
std::string describe(const Denoiser& m);

Action add_bench_reference(CLI::App& bench);
Action add_bench_eager(CLI::App& bench);

}  // namespace dsx::cli
