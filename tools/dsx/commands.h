#pragma once
// Each dsx subcommand adds itself to the CLI11 app and returns the action to run when selected.
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace dsx::cli {

using Action = std::function<int()>;

Action add_sample(CLI::App& app);
Action add_solvers(CLI::App& app);
Action add_make_gmm(CLI::App& app);
Action add_make_latents(CLI::App& app);
Action add_bench(CLI::App& app);
Action add_teacher(CLI::App& app);
Action add_train_amed(CLI::App& app);
Action add_cache(CLI::App& app);
Action add_run(CLI::App& app);
Action add_fid(CLI::App& app);
Action add_grid(CLI::App& app);
Action add_export_model(CLI::App& app);
Action add_gits(CLI::App& app);

// 'text' for /bin/sh, for the commands that run the project's Python tools.
std::string shell_quote(const std::string& s);

}  // namespace dsx::cli
