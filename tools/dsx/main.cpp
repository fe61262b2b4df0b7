// dsx: command-line entry point. Subcommands live in cmd_*.cpp; errors are printed once here.
#include <ATen/Parallel.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>

#include "commands.h"
#include "core/error.h"
#include "core/threads.h"
#include "store/h5.h"

int main(int argc, char** argv) {
  CLI::App app{"dsx: fast ODE-based sampling of diffusion models (AMED, SciRE and baselines)"};
  app.require_subcommand(1);
  int threads = 0;
  auto add_threads_option = [&threads](CLI::App& to) {
    to.add_option("--threads", threads, "intra-op threads for LibTorch (0 = library default)")
        ->check(CLI::NonNegativeNumber);
  };
  add_threads_option(app);
  std::map<CLI::App*, dsx::cli::Action> actions;
  auto add = [&](dsx::cli::Action (*fn)(CLI::App&)) {
    size_t before = app.get_subcommands({}).size();
    dsx::cli::Action a = fn(app);
    actions[app.get_subcommands({})[before]] = std::move(a);
  };
  add(dsx::cli::add_sample);
  add(dsx::cli::add_solvers);
  add(dsx::cli::add_make_gmm);
  add(dsx::cli::add_make_latents);
  add(dsx::cli::add_bench);
  add(dsx::cli::add_teacher);
  add(dsx::cli::add_train_amed);
  add(dsx::cli::add_cache);
  add(dsx::cli::add_run);
  add(dsx::cli::add_fid);
  add(dsx::cli::add_grid);
  add(dsx::cli::add_export_model);
  add(dsx::cli::add_gits);
  // Every subcommand takes --threads too, so it may follow the subcommand's arguments (`dsx run S --threads 2`).
  std::function<void(CLI::App&)> add_threads_everywhere = [&](CLI::App& parent) {
    for (CLI::App* sub : parent.get_subcommands({})) {
      if (!sub->get_option_no_throw("--threads")) add_threads_option(*sub);
      add_threads_everywhere(*sub);
    }
  };
  add_threads_everywhere(app);
  CLI11_PARSE(app, argc, argv);
  // A file whose close failed (a full disk) would crash HDF5's exit handler: leave without exit handlers.
  auto finish = [](int status) {
    if (!dsx::h5::a_close_failed()) return status;
    std::fflush(nullptr);
    std::_Exit(status);
  };
  try {
    dsx::set_compute_threads(threads > 0 ? threads : at::get_num_threads());  // the BLAS pool follows too
    for (auto& [sub, action] : actions)
      if (sub->parsed()) return finish(action());
  } catch (const dsx::Error& e) {
    std::fprintf(stderr, "dsx: error: %s\n", e.what());
    return finish(2);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dsx: internal error: %s\n", e.what());
    return finish(3);
  }
  return 1;
}
