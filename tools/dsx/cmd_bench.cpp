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
#include "models/model_pool.h"
#include "pipeline/model_config.h"
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

// The `model:` mapping of a YAML file (a sample config or an experiment spec), in dtype on the CPU.
ModelPtr model_of(const std::string& config, at::ScalarType dtype) {
  YamlSource src = YamlSource::load_file(config);
  return ModelPool::process().in_precision(load_model(src, src.root()["model"], "model"), dtype, at::kCPU);
}

std::string describe(const ModelPtr& m) {
  return fmt::format("{} {}", m->info().kind, shape_text(m->info().sample_shape));
}

}  // namespace

Action add_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "benchmarks (prints ratios from one run)");
  auto* solvers = cmd->add_subcommand("solvers", "solver overhead vs model time on a Gaussian mixture or a model");
  auto* model = cmd->add_subcommand("model", "denoiser throughput of a config's model (calls/s, samples/s)");
  cmd->require_subcommand(1);
  struct Args {
    int64_t dim = 3072, components = 16, batch = 256;
    int repeats = 3, calls = 10;
    std::vector<int> nfes{5, 10};
    std::string precision = "float32", config;
  };
  auto a = std::make_shared<Args>();
  solvers->add_option("--model", a->config, "a YAML file whose `model:` is benchmarked instead of the mixture")
      ->check(CLI::ExistingFile);
  model->add_option("config", a->config, "a YAML file with a `model:` mapping")->required()->check(CLI::ExistingFile);
  model->add_option("--batch", a->batch, "samples per call");
  model->add_option("--calls", a->calls, "calls per σ (after one warm-up)");
  model->add_option("--precision", a->precision, "float32 or float64")->check(CLI::IsMember({"float32", "float64"}));
  solvers->add_option("--dim", a->dim, "data dimension D");
  solvers->add_option("--components", a->components, "mixture components K");
  solvers->add_option("--batch", a->batch, "samples per batch");
  solvers->add_option("--repeats", a->repeats, "runs per cell (the fastest counts)");
  solvers->add_option("--nfe", a->nfes, "NFE values");
  solvers->add_option("--precision", a->precision, "float32 or float64")->check(CLI::IsMember({"float32", "float64"}));
  auto bench_model = [a] {
    const at::ScalarType dtype = a->precision == "float64" ? at::kDouble : at::kFloat;
    ModelPtr m = model_of(a->config, dtype);
    std::vector<int64_t> seeds(a->batch);
    for (int64_t i = 0; i < a->batch; ++i) seeds[i] = i;
    at::Tensor z = seeded_noise(seeds, m->info().sample_shape, at::TensorOptions().dtype(dtype));
    fmt::print("{}: batch {}, {}, {} intra-op thread(s), {} calls per σ after a warm-up\n\n", describe(m), a->batch,
               a->precision, at::get_num_threads(), a->calls);
    fmt::print("| σ | ms/call | samples/s |\n|---|---|---|\n");
    at::NoGradGuard no_grad;
    for (double s : {80.0, 1.0, 0.002}) {
      at::Tensor x = z * s, sigma = sigma_like(x, s);
      m->denoise(x, sigma);
      auto t0 = Clock::now();
      for (int c = 0; c < a->calls; ++c) m->denoise(x, sigma);
      const double per = std::chrono::duration<double>(Clock::now() - t0).count() / a->calls;
      fmt::print("| {:g} | {:.2f} | {:.0f} |\n", s, 1e3 * per, double(a->batch) / per);
    }
  };
  return [a, model, bench_model] {
    if (model->parsed()) {
      bench_model();
      return 0;
    }
    const at::ScalarType dtype = a->precision == "float64" ? at::kDouble : at::kFloat;
    ModelPtr gmm;
    if (a->config.empty()) {
      auto mixture = GaussianMixture::random(a->components, {a->dim}, 0);
      mixture->to(dtype, at::kCPU);
      gmm = std::move(mixture);
    } else {
      gmm = model_of(a->config, dtype);
    }
    std::vector<int64_t> seeds(a->batch);
    for (int64_t i = 0; i < a->batch; ++i) seeds[i] = i;
    at::Tensor z = seeded_noise(seeds, gmm->info().sample_shape, at::TensorOptions().dtype(dtype));
    const std::string what =
        a->config.empty() ? fmt::format("Gaussian mixture D={} K={}", a->dim, a->components) : describe(gmm);
    fmt::print("{}, batch {}, {}, {} intra-op thread(s), polynomial grid, best of {}\n\n", what, a->batch, a->precision,
               at::get_num_threads(), a->repeats);
    at::NoGradGuard no_grad;
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
