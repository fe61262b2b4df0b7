// dsx solvers: every registered solver with its options, NFE rule, order and source.
#include <fmt/format.h>

#include "commands.h"
#include "core/options.h"
#include "diffusion/schedule.h"
#include "solvers/solver.h"

namespace dsx::cli {

Action add_solvers(CLI::App& app) {
  auto* cmd = app.add_subcommand("solvers", "list solvers, their options, NFE rules and orders; and schedules");
  auto name = std::make_shared<std::string>();
  cmd->add_option("name", *name, "show one solver only");
  return [name] {
    for (const auto& e : solver_entries()) {
      if (!name->empty() && e.name != *name) continue;
      fmt::print("{}\n  {}\n  paper: {}\n  NFE: {}   global order: {}\n  options:\n", e.name, e.summary, e.paper,
                 e.nfe_rule, e.order);
      for (const auto& o : all_option_specs(e))
        fmt::print("    {:<18} {:<40} default {}\n      {}\n", o.name, o.allowed(),
                   o.default_value.empty() ? "-" : o.default_value, o.help);
    }
    if (!name->empty()) {
      solver_entry(*name);  // unknown names are an error with the known list
      return 0;
    }
    fmt::print("\nschedules (schedule.kind):\n");
    for (const auto& k : schedule_kinds()) fmt::print("  {:<16} {}\n", k.name, k.description);
    return 0;
  };
}

}  // namespace dsx::cli
