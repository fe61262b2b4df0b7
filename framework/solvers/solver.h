#pragma once
// Solver interface and the base registry. A solver integrates the EDM ODE dx/dσ = (x − D(x,σ))/σ over a
// host-side σ grid, calling the model only through an Evaluator (which applies AFS and thresholding
// uniformly and lets the counting wrapper see every call). One family per file; each file contributes
// SolverEntry values to the registry in solvers/registry.cpp.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/options.h"
#include "models/denoiser.h"
#include "solvers/multistep.h"

namespace dsx {

struct StepEvent {
  int index;  // interval i: sigmas[i] → sigmas[i+1]
  double sigma_from, sigma_to;
  const at::Tensor& x;  // state at sigma_to
};

struct SampleHooks {
  std::function<void(const StepEvent&)> on_step;  // after every grid interval
};

// Options every solver accepts (OptionSpecs in common_option_specs()).
struct CommonOptions {
  bool afs = false;                // analytical first step: D(x_T, σ_max) ≈ x − σ·x/sqrt(1+σ²), saves 1 NFE
  bool dynamic_threshold = false;  // Imagen dynamic thresholding of data predictions (q = 0.995, s ≥ 1)
  double threshold_quantile = 0.995;
  static CommonOptions from(const Options& o);
};

// Model access for one sampling run.
class Evaluator {
 public:
  Evaluator(const Denoiser& model, const CommonOptions& common) : model_(model), common_(common) {}
  // Data prediction D(x, σ) (AFS on the run's first call; thresholded if enabled).
  at::Tensor data(const at::Tensor& x, double sigma);
  at::Tensor data(const at::Tensor& x, const at::Tensor& sigma);  // per-sample σ [B]
  // Noise prediction / ODE direction ε = d = (x − D)/σ.
  at::Tensor eps(const at::Tensor& x, double sigma) { return (x - data(x, sigma)) / sigma; }
  int64_t calls() const { return calls_; }
  const Denoiser& model() { return model_; }

 private:
  const Denoiser& model_;
  CommonOptions common_;
  int64_t calls_ = 0;
};

// Imagen dynamic thresholding: per sample s = max(quantile(|x0|, q), 1); x0 ← clamp(x0, −s, s)/s.
at::Tensor dynamic_threshold(const at::Tensor& x0, double quantile = 0.995);

class Solver {
 public:
  virtual ~Solver() = default;
  // x: the state at sigmas[0] (x_T = σ_max·z); returns the state at sigmas.back().
  virtual at::Tensor sample(const Denoiser& model, at::Tensor x, const std::vector<double>& sigmas,
                            const SampleHooks& hooks = {}) const = 0;
  // Model evaluations on a grid of num_points points (the counting wrapper must see exactly this).
  virtual int64_t expected_nfe(int num_points) const = 0;
  // Fewest grid points the solver accepts with its options.
  virtual int min_points() const { return 2; }
  // The weight rule of a linear multistep solver (solvers/multistep.h), null for the others.
  virtual const MultistepRule* multistep_rule() const { return nullptr; }
  // The step-level form on a grid of `points` points (a MultistepRun of multistep_rule() unless the solver
  // has its own), null for solvers without one.
  virtual std::unique_ptr<StepRun> step_run(int points) const;
};

struct SolverEntry {
  std::string name;
  std::string summary;
  std::string paper;                // source paper / official code
  std::string nfe_rule;             // e.g. "N−1 (−1 with afs)"
  std::string order;                // expected global order, e.g. "2"
  std::vector<OptionSpec> options;  // solver-specific; common options are appended by the registry
  std::function<std::unique_ptr<Solver>(const Options&)> make;
  // Set when the entry cannot be built from its defaults because an option must name a file (the `amed`
  // entry needs amed.predictor): loops that build every solver with default options skip it.
  bool needs_file = false;
};

const std::vector<OptionSpec>& common_option_specs();
// The base solvers (solvers/registry.cpp). Specs, the CLI and tests name solvers through the full catalog
// (amed/solver_catalog.h: these plus AMED), which is built on top of this one.
const std::vector<SolverEntry>& base_solver_entries();
// All options of an entry (its own + common), in display order.
std::vector<OptionSpec> all_option_specs(const SolverEntry& e);

// Validates raw options (unknown keys, types, ranges) and builds the entry's solver (counted by
// solvers_built). `context` prefixes messages.
std::unique_ptr<Solver> build_solver(const SolverEntry& e, const std::map<std::string, RawOption>& raw,
                                     const std::string& context = "solver.");

// The number of grid points on which `solver` makes exactly `nfe` model calls (the fewest such), or 0 when
// no grid does. Errors are not swallowed: the solver is built by the caller.
int points_for_nfe(const Solver& solver, int64_t nfe);

// A solver variant and grid size for an NFE budget: the solver with afs off first, then with afs on
// (AFS saves one call, so it reaches budgets the plain solver skips). Null solver when neither does.
struct NfePlan {
  std::shared_ptr<const Solver> solver;
  int points = 0;
  bool afs = false;
};
NfePlan plan_for_nfe(const std::shared_ptr<const Solver>& without_afs, const std::shared_ptr<const Solver>& with_afs,
                     int64_t nfe);

// Solvers built by make_solver in this process so far (the run summary reports it).
int64_t solvers_built();

// Checks the grid has enough points for the solver and is strictly decreasing and positive.
void check_grid(const Solver& solver, const std::vector<double>& sigmas, const std::string& name);

}  // namespace dsx
