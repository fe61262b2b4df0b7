#include "solvers/solver.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "core/error.h"
#include "diffusion/schedule.h"

namespace dsx {

CommonOptions CommonOptions::from(const Options& o) {
  CommonOptions c;
  c.afs = o.get_bool("afs");
  c.dynamic_threshold = o.get_string("thresholding") == "dynamic";
  return c;
}

const std::vector<OptionSpec>& common_option_specs() {
  static const std::vector<OptionSpec> specs = {
      opt::flag("afs", false,
                "analytical first step: the first model call is replaced by D = x − σ·x/sqrt(1+σ²) (NFE − 1)"),
      opt::choice("thresholding", {"none", "dynamic"}, "none",
                  "Imagen dynamic thresholding (q = 0.995, s ≥ 1) of every data prediction"),
  };
  return specs;
}

std::unique_ptr<StepRun> Solver::step_run(int points) const {
  const MultistepRule* rule = multistep_rule();
  return rule ? std::make_unique<MultistepRun>(*rule, points) : nullptr;
}

at::Tensor dynamic_threshold(const at::Tensor& x0, double quantile) {
  const int64_t b = x0.size(0);
  at::Tensor flat = x0.reshape({b, -1}).abs();
  at::Tensor s = at::quantile(flat, quantile, 1).clamp_min(1.0);
  s = per_sample(s, x0);
  return at::maximum(at::minimum(x0, s), -s) / s;
}

at::Tensor Evaluator::data(const at::Tensor& x, double sigma) {
  if (common_.afs && calls_ == 0 && !common_.dynamic_threshold) {
    ++calls_;
    return x * (1.0 - sigma / std::sqrt(1.0 + sigma * sigma));  // AFS with a scalar σ: one pass
  }
  return data(x, sigma_like(x, sigma));
}

at::Tensor Evaluator::data(const at::Tensor& x, const at::Tensor& sigma) {
  at::Tensor d;
  if (common_.afs && calls_ == 0) {
    // AFS: ε ≈ x/sqrt(1+σ²) at σ_max (x_T is almost pure noise), so D = x − σ ε; no network call.
    at::Tensor s = per_sample(sigma, x);
    d = x - s * x / at::sqrt(1 + s * s);
  } else {
    d = model_.denoise(x, sigma);
  }
  ++calls_;
  return common_.dynamic_threshold ? dynamic_threshold(d, common_.threshold_quantile) : d;
}

std::vector<OptionSpec> all_option_specs(const SolverEntry& e) {
  std::vector<OptionSpec> specs = e.options;
  specs.insert(specs.end(), common_option_specs().begin(), common_option_specs().end());
  return specs;
}

namespace {
std::atomic<int64_t> built_count{0};
}

int64_t solvers_built() { return built_count.load(); }

std::unique_ptr<Solver> build_solver(const SolverEntry& e, const std::map<std::string, RawOption>& raw,
                                     const std::string& context) {
  ++built_count;
  return e.make(Options::resolve(all_option_specs(e), raw, context));
}

int points_for_nfe(const Solver& solver, int64_t nfe) {
  // NFE grows at least by one per added point for every solver, so 4·NFE + 4 points bound the search.
  for (int n = std::max(2, solver.min_points()); n <= 4 * nfe + 4; ++n)
    if (solver.expected_nfe(n) == nfe) return n;
  return 0;
}

NfePlan plan_for_nfe(const std::shared_ptr<const Solver>& without_afs, const std::shared_ptr<const Solver>& with_afs,
                     int64_t nfe) {
  if (int n = points_for_nfe(*without_afs, nfe)) return {without_afs, n, false};
  if (int n = points_for_nfe(*with_afs, nfe)) return {with_afs, n, true};
  return {};
}

void check_grid(const Solver& solver, const std::vector<double>& sigmas, const std::string& name) {
  validate_sigma_grid(sigmas, "the sigma grid");
  if (int(sigmas.size()) < solver.min_points())
    fail("solver '{}' with these options needs at least {} grid points (schedule.num_steps), got {}", name,
         solver.min_points(), sigmas.size());
}

}  // namespace dsx
