// dsx sample CONFIG.yaml [--set key=value]...
#include <fmt/format.h>

#include "commands.h"
#include "pipeline/sample_run.h"

namespace dsx::cli {

Action add_sample(CLI::App& app) {
  auto* cmd = app.add_subcommand("sample", "sample a batch with one solver and write it (HDF5)");
  auto config = std::make_shared<std::string>();
  auto sets = std::make_shared<std::vector<std::string>>();
  auto cache_dir = std::make_shared<std::string>();
  cmd->add_option("config", *config, "YAML config (model, latents, schedule, solver, precision, output)")->required();
  cmd->add_option("--set", *sets, "override a config key: --set solver.name=heun (repeatable)");
  cmd->add_option("--cache-dir", *cache_dir,
                  "artifact cache root, where the exact ODE solution of seeded latents is shared with evaluate "
                  "stages (default $DSX_CACHE_DIR, else .cache/dsx)");
  return [config, sets, cache_dir] {
    SampleConfig c = load_sample_config(*config, *sets);
    const cache::Cache store(cache::resolve_root(*cache_dir));
    SampleOutcome r = run_sample(c, &store, [](const std::string& line) { fmt::print("{}\n", line); });
    fmt::print("solver {}  schedule {} ({} points, sigma {:.4g} -> {:.4g})  device {}\n", c.solver.name,
               c.schedule.kind, r.sigmas.size(), r.sigmas.front(), r.sigmas.back(), r.device);
    fmt::print("samples {}  nfe {}  time {:.3f} s", r.samples.size(0), r.nfe, r.seconds);
    if (r.rmse) fmt::print("  rmse_vs_exact {:.6e}", *r.rmse);
    if (!r.reference_note.empty()) fmt::print("\nreference: {}", r.reference_note);
    fmt::print("\nwrote {}\n", c.output);
    return 0;
  };
}

}  // namespace dsx::cli
