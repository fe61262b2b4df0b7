#pragma once
// The exact ODE solution of seeded latents as a cached artifact (kind "ode_reference"): every evaluate stage
// of a spec, later specs and `dsx sample` on the same model, seeds and σ range share one solve — the
// dominant cost of an evaluation on a mixture. The key's lock makes concurrent users compute it once.
//
// The rows are solved in chunks of 64, each with its own step-size control: the unit the ranks of a
// multi-process run share (chunk c on rank c mod ranks, the solutions broadcast), so the result is the
// same bits for any number of ranks.
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "store/cache.h"

namespace dsx {

class Denoiser;
namespace dist {
class Group;
}

struct OdeReferenceRequest {
  std::vector<int64_t> seeds;  // the latents' seeds, in row order
  at::Tensor latents;          // [N, *shape] unit noise (x_T = σ_from · latents)
  double sigma_from = 0, sigma_to = 0;
  double rtol = 0;  // the solve's tolerance for models without an exact solution (reference_method)
};

// The solution [N, *shape] float64 (CPU); `label` names the progress line ("<label> reference: ‰ of the solve
// ..., ETA"); *was_cached tells whether it was found in the cache.
// With a group, every rank calls it (in the same order): rank 0 holds the entry's lock and the others join
// its solve, or read what a concurrent run committed.
at::Tensor cached_ode_solution(const cache::Cache& cache, const Denoiser& model, const OdeReferenceRequest& request,
                               const std::string& label, const std::function<void(const std::string&)>& log,
                               bool* was_cached = nullptr, dist::Group* group = nullptr);

// The cache entry's key (its lookup without computing: dsx sample's `reference: auto`).
cache::CacheKey ode_reference_key(const Denoiser& model, const OdeReferenceRequest& request);

}  // namespace dsx
