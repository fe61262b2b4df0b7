#include "pipeline/ode_reference.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "core/error.h"
#include "core/progress.h"
#include "dist/group.h"
#include "models/denoiser.h"
#include "models/reference_ode.h"
#include "store/h5.h"
#include "store/tensor_h5.h"

namespace dsx {

namespace {

constexpr int64_t kChunk = 64;  // rows per independent solve (the unit ranks share)

// Every chunk's solution, this rank's computed and the others' received; errors are exchanged first so no
// rank waits on a failed one.
at::Tensor solve_chunks(const Denoiser& model, const OdeReferenceRequest& q, dist::Group* group, ProgressLine& line) {
  const int64_t n = q.latents.size(0), chunks = (n + kChunk - 1) / kChunk;
  const int ranks = group ? group->size() : 1, rank = group ? group->rank() : 0;
  std::vector<at::Tensor> out(static_cast<size_t>(chunks));
  std::string error;
  try {
    const int64_t mine = (chunks - rank + ranks - 1) / ranks;
    int64_t done = 0;
    for (int64_t c = rank; c < chunks; c += ranks, ++done) {
      const int64_t first = c * kChunk, rows = std::min(kChunk, n - first);
      const std::vector<int64_t> seeds(q.seeds.begin() + first, q.seeds.begin() + first + rows);
      const SeededBatch seeded(model, seeds);  // a class-conditional model's labels come from the seeds
      out[size_t(c)] =
          reference_solution(seeded, q.sigma_from * q.latents.narrow(0, first, rows), q.sigma_from, q.sigma_to, q.rtol,
                             [&](double f) { line.update(int64_t(1000 * (double(done) + f) / double(mine)), 1000); })
              .to(at::kDouble)
              .cpu()
              .contiguous();
    }
  } catch (const std::exception& e) {
    if (!group) throw;
    error = e.what();
  }
  if (group) {
    group->raise_any(error, "the reference solve");
    for (int64_t c = 0; c < chunks; ++c) {
      if (!out[size_t(c)].defined()) {
        std::vector<int64_t> shape = q.latents.sizes().vec();
        shape[0] = std::min(kChunk, n - c * kChunk);
        out[size_t(c)] = at::empty(shape, at::kDouble);
      }
      group->broadcast(out[size_t(c)], int(c % ranks));
    }
  }
  return at::cat(out);
}

}  // namespace

cache::CacheKey ode_reference_key(const Denoiser& model, const OdeReferenceRequest& q) {
  cache::json params = {{"seeds", q.seeds.size()},
                        {"seed_hash", cache::seed_hash(q.seeds)},
                        // 12 digits: grids that meet σ_max/σ_min up to rounding (time-uniform's round trip
                        // gives 79.99999999999997) share the solve, whose own tolerance is 1e-12.
                        {"sigma_from", fmt::format("{:.12g}", q.sigma_from)},
                        {"sigma_to", fmt::format("{:.12g}", q.sigma_to)}};
  if (!model.exact()) params["method"] = reference_method(model, q.rtol);  // exact models: earlier keys
  // 3: Fehlberg 7(8) (Boost.Odeint); 2: Dormand–Prince 5(4) in chunks of 64 rows, each with its own step size;
  // 1: the whole batch at once. The solutions differ in low bits.
  return cache::CacheKey::of("ode_reference", 3, params, {}, model.info().fingerprint, "float64/cpu");
}

at::Tensor cached_ode_solution(const cache::Cache& cache, const Denoiser& model, const OdeReferenceRequest& q,
                               const std::string& label, const std::function<void(const std::string&)>& log,
                               bool* was_cached, dist::Group* group) {
  const cache::CacheKey key = ode_reference_key(model, q);
  auto solve = [&] {  // hundreds of adaptive steps: progress in thousandths, with an ETA
    ProgressLine line(label + " reference", "‰ of the solve", 1000, log);
    at::Tensor x = solve_chunks(model, q, group, line);
    line.finish();
    return x;
  };
  auto read = [&] {  // under a shared lock, so that no writer (gc, a reset) replaces the file meanwhile
    cache::Lock reading = cache.lock(key, -1, cache::LockMode::Shared);
    return h5::read_tensor(h5::File::open(cache.dir(key) + "/solution.h5"), "solution", at::kDouble);
  };
  if (group && group->rank() != 0) {  // join rank 0's solve, or read what it found
    const std::string verdict = group->await(group->next_tag("reference"));
    if (verdict == "stop") fail("the reference solve failed on rank 0");
    if (was_cached) *was_cached = verdict == "hit";
    return verdict == "go" ? solve() : read();
  }
  const std::string tag = group ? group->next_tag("reference") : "";
  bool told = false;
  auto tell = [&](const std::string& verdict) {
    if (group && !told) group->post(tag, verdict);
    told = true;
  };
  at::Tensor x;
  try {
    const cache::Cache::Outcome got = cache.compute_or_get(key, [&](const std::string& dir, const std::string&) {
      tell("go");
      x = solve();
      h5::File f = h5::File::create(dir + "/solution.h5");
      h5::write_tensor(f, "solution", x);
      f.close();
      return cache::Cache::Computed{{"solution.h5"}};
    });
    tell("hit");
    if (got.hit) x = read();
    if (was_cached) *was_cached = got.hit;
  } catch (...) {
    tell("stop");
    throw;
  }
  return x;
}

}  // namespace dsx
