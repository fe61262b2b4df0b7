// dsx bench: solver overhead per solver and thread count, model throughput, the reference solve
// (bench_reference.cpp) and dsx against a plain PyTorch-eager loop (bench_eager.cpp). Every figure is a ratio
// or a median from one run; nothing here is a timed test.
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "amed/solver_catalog.h"
#include "bench_common.h"
#include "core/error.h"
#include "core/noise.h"
#include "diffusion/schedule.h"
#include "models/gaussian_mixture.h"
#include "models/model_pool.h"
#include "pipeline/model_config.h"
#include "solvers/lincomb.h"
#include "solvers/solver.h"

namespace dsx::cli {

at::Tensor TimedDenoiser::denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out) const {
  auto t0 = Clock::now();
  at::Tensor d = inner_.denoise(x, sigma, out);
  seconds += seconds_since(t0);
  ++calls;
  return d;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

at::Tensor bench_latents(int64_t count, const std::vector<int64_t>& shape, at::ScalarType dtype) {
  std::vector<int64_t> seeds(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) seeds[size_t(i)] = i;
  return seeded_noise(seeds, shape, at::TensorOptions().dtype(dtype));
}

SolverTiming time_solver(const Solver& solver, const Denoiser& model, const at::Tensor& z,
                         const std::vector<double>& sigmas) {
  at::NoGradGuard no_grad;
  TimedDenoiser timed(model);
  at::Tensor x_T = sigmas.front() * z;
  const int64_t bytes_before = lincomb_bytes();
  const auto t0 = Clock::now();
  SolverTiming t;
  t.x = solver.sample(timed, std::move(x_T), sigmas);
  t.seconds = seconds_since(t0);
  t.update_bytes = lincomb_bytes() - bytes_before;
  t.model_seconds = timed.seconds;
  t.calls = timed.calls;
  return t;
}

ModelPtr model_of(const std::string& config, at::ScalarType dtype) {
  YamlSource src = YamlSource::load_file(config);
  return ModelPool::process().in_precision(load_model(src, src.root()["model"], "model"), dtype, at::kCPU);
}

std::string describe(const Denoiser& m) {
  return fmt::format("{} {}", m.info().kind, shape_text(m.info().sample_shape));
}

namespace {

std::shared_ptr<const Solver> solver_with_afs(const SolverEntry& e, bool afs) {
  return make_solver(e.name, {{"afs", {afs ? "true" : "false", "bench"}}});
}

// The machine's streaming speed now: bytes per second of ATen's copy_ (one read, one written) on tensors like
// z. The solvers' updates are passes of the same kind over the batch (memory-bound, not arithmetic).
double streaming_speed(const at::Tensor& z) {
  const at::Tensor a = z.clone();
  at::Tensor out = at::empty_like(z);
  constexpr int kPasses = 8;
  out.copy_(a);  // pages touched, threads awake
  std::vector<double> speed;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < kPasses; ++i) out.copy_(a);
    speed.push_back(double(2 * kPasses * a.nbytes()) / seconds_since(t0));
  }
  return median(speed);
}

}  // namespace

Action add_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "benchmarks (prints ratios from one run)");
  auto* solvers = cmd->add_subcommand("solvers", "solver overhead vs model time on a Gaussian mixture or a model");
  auto* model = cmd->add_subcommand("model", "denoiser throughput of a config's model (calls/s, samples/s)");
  Action reference = add_bench_reference(*cmd), eager = add_bench_eager(*cmd);
  cmd->require_subcommand(1);
  struct Args {
    int64_t dim = 3072, components = 16, batch = 256;
    int repeats = 3, calls = 10;
    std::vector<int> threads{1, 2};
    std::vector<int> nfes{5, 10};
    std::vector<std::string> solvers;  // empty: every solver that needs no trained file
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
  solvers->add_option("--repeats", a->repeats, "interleaved rounds (medians count)");
  solvers->add_option("--threads-list", a->threads, "intra-op thread counts, each measured in every round");
  solvers->add_option("--nfe", a->nfes, "NFE values");
  solvers->add_option("--solvers", a->solvers, "only these solvers (default: every one that needs no trained file)");
  solvers->add_option("--precision", a->precision, "float32 or float64")->check(CLI::IsMember({"float32", "float64"}));
  auto bench_model = [a] {
    const at::ScalarType dtype = a->precision == "float64" ? at::kDouble : at::kFloat;
    ModelPtr m = model_of(a->config, dtype);
    const at::Tensor z = bench_latents(a->batch, m->info().sample_shape, dtype);
    fmt::print("{}: batch {}, {}, {} intra-op thread(s), {} calls per σ after a warm-up\n\n", describe(*m), a->batch,
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
  return [a, cmd, model, bench_model, reference, eager] {
    if (model->parsed()) {
      bench_model();
      return 0;
    }
    for (CLI::App* sub : cmd->get_subcommands())
      if (sub->get_name() == "reference")
        return reference();
      else if (sub->get_name() == "eager")
        return eager();
    const at::ScalarType dtype = a->precision == "float64" ? at::kDouble : at::kFloat;
    ModelPtr gmm;
    if (a->config.empty()) {
      auto mixture = GaussianMixture::random(a->components, {a->dim}, 0);
      mixture->to(dtype, at::kCPU);
      gmm = std::move(mixture);
    } else {
      gmm = model_of(a->config, dtype);
    }
    const at::Tensor z = bench_latents(a->batch, gmm->info().sample_shape, dtype);
    const std::string what =
        a->config.empty() ? fmt::format("Gaussian mixture D={} K={}", a->dim, a->components) : describe(*gmm);
    // Every cell once per round, rounds interleaved, so the machine's drifts hit all cells alike; medians.
    struct Cell {
      std::string solver;
      int nfe = 0, points = 0;
      bool afs = false;
      std::shared_ptr<const Solver> run;
      std::vector<double> sigmas;
      std::map<int, std::vector<double>> total, model, traffic;  // by thread count
    };
    std::map<int, std::vector<double>> stream_speed;  // by thread count
    std::vector<Cell> cells;
    for (const auto& e : solver_entries()) {
      if (e.needs_file) continue;  // needs a trained predictor (amed)
      if (!a->solvers.empty() && std::find(a->solvers.begin(), a->solvers.end(), e.name) == a->solvers.end()) continue;
      for (int nfe : a->nfes) {
        const NfePlan plan = plan_for_nfe(solver_with_afs(e, false), solver_with_afs(e, true), nfe);
        Cell c{e.name, nfe, plan.points, plan.afs, plan.solver, {}, {}, {}, {}};
        if (plan.solver) {
          ScheduleSpec s;
          s.num_steps = plan.points;
          c.sigmas = make_schedule(s);
        }
        cells.push_back(std::move(c));
      }
    }
    const int threads_before = at::get_num_threads();
    for (int r = 0; r < a->repeats; ++r)
      for (int t : a->threads) {
        at::set_num_threads(t);  // the mixture uses no BLAS: its pool stays as --threads set it
        const double speed = streaming_speed(z);
        stream_speed[t].push_back(speed);
        for (Cell& c : cells) {
          if (!c.run) continue;
          const SolverTiming run = time_solver(*c.run, *gmm, z, c.sigmas);
          if (run.calls != c.nfe) fail("bench: {} made {} calls, planned {}", c.solver, run.calls, c.nfe);
          c.total[t].push_back(run.seconds);
          c.model[t].push_back(run.model_seconds);
          c.traffic[t].push_back(double(run.update_bytes) / speed);
        }
      }
    at::set_num_threads(threads_before);
    fmt::print("{}, batch {}, {}, polynomial grid, medians of {} interleaved rounds\n", what, a->batch, a->precision,
               a->repeats);
    fmt::print(
        "overhead = (wall − model) / model: the solver's own work relative to the network\n"
        "traffic = the bytes its fused updates read and write, at the machine's streaming speed (ATen's copy_ on\n"
        "batch-sized tensors, measured in the same round), over model time: updates are memory-bound, so overhead ≈\n"
        "traffic means the solver runs at that speed, and only fewer bytes per step (fusing into the model's pass)\n"
        "would cut it\n");
    for (int t : a->threads)
      fmt::print("streaming speed (ATen copy_) at {} thread(s): {:.1f} GB/s\n", t, median(stream_speed[t]) * 1e-9);
    fmt::print("\n");
    fmt::print("| solver | NFE | points | afs |");
    for (int t : a->threads) fmt::print(" ms/sample {0}T | model ms {0}T | overhead {0}T | traffic {0}T |", t);
    fmt::print("\n|---|---|---|---|");
    for (size_t i = 0; i < a->threads.size(); ++i) fmt::print("---|---|---|---|");
    fmt::print("\n");
    const double per = 1e3 / double(a->batch);
    for (Cell& c : cells) {
      if (!c.run) {
        fmt::print("| {} | {} | – | – | no grid gives this NFE |\n", c.solver, c.nfe);
        continue;
      }
      fmt::print("| {} | {} | {} | {} |", c.solver, c.nfe, c.points, c.afs ? "yes" : "no");
      for (int t : a->threads) {
        const double total = median(c.total[t]), model = median(c.model[t]), traffic = median(c.traffic[t]);
        fmt::print(" {:.4f} | {:.4f} | {:.1f}% | {:.1f}% |", total * per, model * per, 100.0 * (total - model) / model,
                   100.0 * traffic / model);
      }
      fmt::print("\n");
    }
    return 0;
  };
}

}  // namespace dsx::cli
