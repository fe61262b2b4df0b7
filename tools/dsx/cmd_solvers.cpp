// dsx solvers: every registered solver with its options, NFE rule, order and source.
#include <fmt/format.h>

#include <cmath>

#include "amed/solver_catalog.h"
#include "commands.h"
#include "core/options.h"
#include "diffusion/schedule.h"
#include "models/gaussian_mixture.h"
#include "models/testbeds.h"
#include "solvers/solver.h"

namespace dsx::cli {
namespace {

// Global order with default options, measured now: float64, a curved 3-component mixture, logSNR grids
// of 41/81/161 points, error at σ_min against the reference ODE solution (slope of log error vs log N).
double measure_order(const SolverEntry& e) {
  auto mixture = testbeds::curved_mixture3();
  GaussianMixture& gmm = *mixture;
  gmm.set_reference_rtol(1e-13);
  at::Tensor x_T = at::tensor({80.0, -40.0, 20.0, -60.0, 10.0, 70.0}, at::kDouble).reshape({2, 3});
  at::Tensor exact = gmm.ode_solution(x_T, 80.0, 0.002);
  auto solver = make_solver(e.name, {});
  std::vector<double> logn, loge;
  for (int n : {41, 81, 161}) {
    ScheduleSpec s;
    s.kind = "logsnr";
    s.num_steps = n;
    at::Tensor x = solver->sample(gmm, x_T, make_schedule(s));
    logn.push_back(std::log(n - 1.0));
    loge.push_back(std::log((x - exact).square().mean().sqrt().item<double>()));
  }
  return -(loge.back() - loge.front()) / (logn.back() - logn.front());
}

}  // namespace

Action add_solvers(CLI::App& app) {
  auto* cmd = app.add_subcommand("solvers", "list solvers, their options, NFE rules and orders; and schedules");
  auto name = std::make_shared<std::string>();
  auto measure = std::make_shared<bool>(false);
  cmd->add_option("name", *name, "show one solver only");
  cmd->add_flag("--measure", *measure, "also measure each solver's global order now (default options)");
  return [name, measure] {
    for (const auto& e : solver_entries()) {
      if (!name->empty() && e.name != *name) continue;
      fmt::print("{}\n  {}\n  paper: {}\n  NFE: {}   global order: {}\n  options:\n", e.name, e.summary, e.paper,
                 e.nfe_rule, e.order);
      if (*measure && !e.needs_file)
        fmt::print("  measured order (default options, mixture, logSNR 40-160 steps): {:.2f}\n", measure_order(e));
      for (const auto& o : all_option_specs(e))
        fmt::print("    {:<18} {:<40} default {}\n      {}\n", o.name, o.allowed(),
                   o.default_value.empty() ? "-" : o.default_value, o.help);
    }
    if (!name->empty()) {
      solver_entry(*name);  // unknown names are an error with the known list
      return 0;
    }
    fmt::print("\nschedules (schedule.kind):\n");
    for (const auto& k : schedule_kinds()) {
      fmt::print("  {:<16} {}\n", k.name, k.description);
      for (const auto& o : k.options)
        fmt::print("    {:<18} {:<40} default {}\n      {}\n", o.name, o.allowed(),
                   o.default_value.empty() ? "-" : o.default_value, o.help);
    }
    fmt::print("  every kind also takes: kind, num_steps, sigma_min, sigma_max (dsx run --explain schedule.KIND)\n");
    return 0;
  };
}

}  // namespace dsx::cli
