// dsx bench reference: what the exact reference of an evaluation costs. One chunk of rows (the unit
// pipeline/ode_reference.h solves) from σ_max to σ_min with each integrator, error control (all rows
// together or per row) and tolerance: model calls, seconds, and the error against a much tighter per-row
// solve; and the same rows sampled with Euler at NFE 10 in float32, which the reference exists to judge
// (its cost as a multiple of the sampling).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include "amed/solver_catalog.h"
#include "bench_common.h"
#include "diffusion/schedule.h"
#include "models/gaussian_mixture.h"
#include "models/reference_ode.h"
#include "solvers/solver.h"

namespace dsx::cli {

Action add_bench_reference(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("reference",
                                   "the reference ODE solve: calls, time and error per integrator and "
                                   "tolerance, against the sampling it judges");
  struct Args {
    int64_t dim = 3072, components = 16, rows = 64;
    std::vector<double> tols{1e-10, 1e-12};
    std::vector<std::string> integrators{"rkf78", "dopri5"};
    std::vector<std::string> modes{"together", "per_row"};
    double truth_tol = 1e-14;
    std::string truth_integrator = "dopri5";
    int repeats = 1;
    std::string config;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--model", a->config, "a YAML file whose `model:` is solved (float64) instead of the mixture")
      ->check(CLI::ExistingFile);
  cmd->add_option("--dim", a->dim, "mixture dimension D");
  cmd->add_option("--components", a->components, "mixture components K");
  cmd->add_option("--rows", a->rows, "rows solved together (the pipeline's chunk is 64)");
  cmd->add_option("--tol", a->tols, "rtol = atol values");
  cmd->add_option("--integrators", a->integrators, "integrators to compare")
      ->check(CLI::IsMember(reference_integrators()));
  cmd->add_option("--modes", a->modes, "error control over all rows together, or per row (OdeSolveOptions::per_row)")
      ->check(CLI::IsMember({"together", "per_row"}));
  cmd->add_option("--truth-tol", a->truth_tol, "tolerance of the per-row solve the errors are measured against");
  cmd->add_option("--truth-integrator", a->truth_integrator, "its integrator (dopri5: error ≈ 0.4·tol, measured)")
      ->check(CLI::IsMember(reference_integrators()));
  cmd->add_option("--repeats", a->repeats, "interleaved rounds (medians count)");
  return [a] {
    ModelPtr model;
    RowDenoiser raw;  // the mixture's own per-row kernel, as its ode_solution() uses it
    if (a->config.empty()) {
      std::shared_ptr<const GaussianMixture> mixture = GaussianMixture::random(a->components, {a->dim}, 0);
      raw = mixture->row_denoiser();
      model = mixture;
    } else {
      model = model_of(a->config, at::kDouble);
      if (const auto* mixture = dynamic_cast<const GaussianMixture*>(model.get())) raw = mixture->row_denoiser();
    }
    const double from = model->info().sigma_max, to = model->info().sigma_min;
    const at::Tensor z = bench_latents(a->rows, model->info().sample_shape, at::kDouble);
    const std::string what =
        a->config.empty() ? fmt::format("Gaussian mixture D={} K={}", a->dim, a->components) : describe(*model);
    fmt::print("{}, {} rows, σ {:g} → {:g}, float64, {} intra-op thread(s), medians of {} round(s)\n", what, a->rows,
               from, to, at::get_num_threads(), a->repeats);

    OdeSolveOptions tight;
    tight.rtol = tight.atol = a->truth_tol;
    tight.per_row = true;
    tight.row_denoiser = raw;
    tight.integrator = a->truth_integrator;
    const auto t_truth = Clock::now();
    const OdeSolution truth = solve_reference_ode(*model, from * z, from, to, tight);
    fmt::print("truth: {} per row at {:g}, {} calls, {:.1f} s\n", a->truth_integrator, a->truth_tol, truth.evaluations,
               seconds_since(t_truth));

    const ModelPtr model32 = model->converted(at::kFloat, at::kCPU);
    ScheduleSpec grid;
    grid.num_steps = 11;
    grid.sigma_max = from;
    grid.sigma_min = to;
    const auto euler = make_solver("euler", {});
    std::vector<double> sampling;
    struct Cell {
      std::string integrator, mode;
      double tol;
      std::vector<double> seconds;
      OdeSolution last;
    };
    std::vector<Cell> cells;
    for (const auto& name : a->integrators)
      for (const auto& mode : a->modes)
        for (double tol : a->tols) cells.push_back({name, mode, tol, {}, {}});
    for (int r = 0; r < a->repeats; ++r) {
      sampling.push_back(time_solver(*euler, *model32, z.to(at::kFloat), make_schedule(grid)).seconds);
      for (Cell& c : cells) {
        OdeSolveOptions o;
        o.rtol = o.atol = c.tol;
        o.integrator = c.integrator;
        o.per_row = c.mode == "per_row";
        if (o.per_row) o.row_denoiser = raw;
        const auto t0 = Clock::now();
        c.last = solve_reference_ode(*model, from * z, from, to, o);
        c.seconds.push_back(seconds_since(t0));
      }
    }
    const double sample_s = median(sampling);
    fmt::print("sampling the same rows: Euler, NFE 10, float32: {:.4f} s\n\n", sample_s);
    fmt::print(
        "| integrator | error control | tol | calls | steps (rejected) | seconds | ms/call | max error | × sampling "
        "|\n");
    fmt::print("|---|---|---|---|---|---|---|---|---|\n");
    for (const Cell& c : cells) {
      const double s = median(c.seconds);
      fmt::print("| {} | {} | {:g} | {} | {} ({}) | {:.2f} | {:.2f} | {:.2e} | {:.0f} |\n", c.integrator, c.mode, c.tol,
                 c.last.evaluations, c.last.accepted_steps, c.last.rejected_steps, s,
                 1e3 * s / double(c.last.evaluations), (c.last.x - truth.x).abs().max().item<double>(), s / sample_s);
    }
    return 0;
  };
}

}  // namespace dsx::cli
