// dsx bench solvers: wall time per sample, model time and solver overhead for every solver at fixed NFE
// on a large Gaussian mixture. Ratios come from one run; nothing here is a timed test.
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <chrono>

#include "amed/solver_catalog.h"
#include "commands.h"
#include "core/error.h"
#include "core/noise.h"
#include "diffusion/schedule.h"
#include "models/gaussian_mixture.h"
#include "solvers/solver.h"

namespace dsx::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Accumulates the time spent inside the model.
class TimedDenoiser : public DenoiserDecorator {
 public:
  using DenoiserDecorator::DenoiserDecorator;
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out = nullptr) const override {
    auto t0 = Clock::now();
    at::Tensor d = inner_.denoise(x, sigma, out);
    seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    ++calls;
    return d;
  }
  mutable double seconds = 0;  // one timer per run
  mutable int64_t calls = 0;
};

std::shared_ptr<const Solver> solver_with_afs(const SolverEntry& e, bool afs) {
  return make_solver(e.name, {{"afs", {afs ? "true" : "false", "bench"}}});
}

}  // namespace

Action add_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "benchmarks (prints ratios from one run)");
  auto* solvers = cmd->add_subcommand("solvers", "solver overhead vs model time on a Gaussian mixture");
  cmd->require_subcommand(1);
  struct Args {
    int64_t dim = 3072, components = 16, batch = 256;
    int repeats = 3;
    std::vector<int> nfes{5, 10};
    std::string precision = "float32";
  };
  auto a = std::make_shared<Args>();
  solvers->add_option("--dim", a->dim, "data dimension D");
  solvers->add_option("--components", a->components, "mixture components K");
  solvers->add_option("--batch", a->batch, "samples per batch");
  solvers->add_option("--repeats", a->repeats, "runs per cell (the fastest counts)");
  solvers->add_option("--nfe", a->nfes, "NFE values");
  solvers->add_option("--precision", a->precision, "float32 or float64")->check(CLI::IsMember({"float32", "float64"}));
  return [a] {
    const at::ScalarType dtype = a->precision == "float64" ? at::kDouble : at::kFloat;
    auto gmm = GaussianMixture::random(a->components, {a->dim}, 0);
    gmm->to(dtype, at::kCPU);
    std::vector<int64_t> seeds(a->batch);
    for (int64_t i = 0; i < a->batch; ++i) seeds[i] = i;
    at::Tensor z = seeded_noise(seeds, {a->dim}, at::TensorOptions().dtype(dtype));
    fmt::print("Gaussian mixture D={} K={}, batch {}, {}, {} intra-op thread(s), polynomial grid, best of {}\n\n",
               a->dim, a->components, a->batch, a->precision, at::get_num_threads(), a->repeats);
    fmt::print(
        "| solver | NFE | grid points | afs | ms/sample | model ms/sample | overhead "
        "|\n|---|---|---|---|---|---|---|\n");
    for (const auto& e : solver_entries()) {
      if (e.needs_file) continue;  // needs a trained predictor (amed)
      for (int nfe : a->nfes) {
        const NfePlan plan = plan_for_nfe(solver_with_afs(e, false), solver_with_afs(e, true), nfe);
        if (!plan.solver) {
          fmt::print("| {} | {} | – | – | no grid gives this NFE | | |\n", e.name, nfe);
          continue;
        }
        const Solver* solver = plan.solver.get();
        const int points = plan.points;
        const bool afs = plan.afs;
        ScheduleSpec s;
        s.num_steps = points;
        std::vector<double> sigmas = make_schedule(s);
        double best_total = 1e300, best_model = 0;
        for (int r = 0; r < a->repeats; ++r) {
          TimedDenoiser timed(*gmm);
          at::Tensor x_T = sigmas.front() * z;  // the caller's input, not solver work
          auto t0 = Clock::now();
          at::Tensor x = solver->sample(timed, std::move(x_T), sigmas);
          double total = std::chrono::duration<double>(Clock::now() - t0).count();
          if (timed.calls != nfe) fail("bench: {} made {} calls, planned {}", e.name, timed.calls, nfe);
          if (total < best_total) best_total = total, best_model = timed.seconds;
        }
        double per = 1e3 / double(a->batch);
        fmt::print("| {} | {} | {} | {} | {:.4f} | {:.4f} | {:.1f}% |\n", e.name, nfe, points, afs ? "yes" : "no",
                   best_total * per, best_model * per, 100.0 * (best_total - best_model) / best_total);
      }
    }
    return 0;
  };
}

}  // namespace dsx::cli
