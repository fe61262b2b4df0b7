// dsx bench eager: dsx's sampling against the plain PyTorch-eager loop a researcher would write
// (tools/bench/eager_mixture.py, run with Debian's python3-torch): the same mixture file, solver, grid, batch
// and thread count; ms/sample of the whole run and of the model alone. Rounds are interleaved (dsx, eager,
// dsx, …) and the table gives medians, so drifts of a noisy machine hit both sides alike.
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "amed/solver_catalog.h"
#include "bench_common.h"
#include "core/error.h"
#include "core/fs_util.h"
#include "core/subprocess.h"
#include "diffusion/schedule.h"
#include "models/gaussian_mixture.h"
#include "solvers/solver.h"

namespace dsx::cli {
namespace {

// Runs `command` and returns the JSON of its last output line.
nlohmann::json run_json(const std::string& command) {
  int status = 0;
  const std::string out = run_shell_capture(command, &status);
  if (status != 0) fail("bench eager: `{}` failed (status {}); its message is above", command, status);
  const size_t end = out.find_last_not_of('\n');
  const size_t start = out.rfind('\n', end);
  try {
    return nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start + 1));
  } catch (const std::exception&) {
    fail("bench eager: `{}` printed no JSON line: {}", command, out);
  }
}

// Grid points that make `solver` (Euler: one call per interval; EDM Heun: two) spend `nfe` calls.
int points_for(const std::string& solver, int nfe) { return solver == "heun" ? nfe / 2 + 1 : nfe + 1; }

}  // namespace

Action add_bench_eager(CLI::App& bench) {
  auto* cmd = bench.add_subcommand("eager", "dsx vs a plain PyTorch-eager loop of the same solver and mixture");
  struct Args {
    int64_t dim = 3072, components = 16, batch = 256;
    std::vector<int> nfes{10}, threads{1, 2};
    std::vector<std::string> solvers{"euler", "heun"};
    int repeats = 3;
    std::string precision = "float32", python = "/usr/bin/python3";
    std::string script = std::string(DSX_SOURCE_DIR) + "/tools/bench/eager_mixture.py";
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--dim", a->dim, "mixture dimension D");
  cmd->add_option("--components", a->components, "mixture components K");
  cmd->add_option("--batch", a->batch, "samples per run");
  cmd->add_option("--nfe", a->nfes, "NFE values (Heun: even)");
  cmd->add_option("--solvers", a->solvers, "solvers both sides have")->check(CLI::IsMember({"euler", "heun"}));
  cmd->add_option("--threads-list", a->threads, "intra-op thread counts (both sides)");
  cmd->add_option("--repeats", a->repeats, "interleaved rounds (medians count)");
  cmd->add_option("--precision", a->precision, "float32 or float64")->check(CLI::IsMember({"float32", "float64"}));
  cmd->add_option("--python", a->python, "a Python with torch and h5py (Debian: python3-torch python3-h5py)");
  cmd->add_option("--script", a->script, "the eager loop (default: the source tree's tools/bench/eager_mixture.py)");
  return [a] {
    if (!is_file(a->script)) fail("{}: the eager script is missing (give --script PATH)", a->script);
    const at::ScalarType dtype = a->precision == "float64" ? at::kDouble : at::kFloat;
    const std::string file =
        (std::filesystem::temp_directory_path() / fmt::format("dsx-bench-eager-{}.h5", getpid())).string();
    struct Removal {
      std::string path;
      ~Removal() { std::filesystem::remove(path); }
    } removal{file};
    auto mixture = GaussianMixture::random(a->components, {a->dim}, 0);
    mixture->save_h5(file);
    mixture->to(dtype, at::kCPU);
    const at::Tensor z = bench_latents(a->batch, {a->dim}, dtype);
    struct Sides {
      std::vector<double> dsx, dsx_model, eager, eager_model;
    };
    std::map<std::tuple<std::string, int, int>, Sides> cells;  // (solver, nfe, threads)
    const int threads_before = at::get_num_threads();
    for (int r = 0; r < a->repeats; ++r)
      for (int t : a->threads)
        for (const std::string& name : a->solvers)
          for (int nfe : a->nfes) {
            Sides& c = cells[{name, nfe, t}];
            const int points = points_for(name, nfe);
            at::set_num_threads(t);  // the mixture uses no BLAS: its pool stays as --threads set it
            ScheduleSpec grid;
            grid.num_steps = points;
            const auto solver = make_solver(name, {});
            const SolverTiming run = time_solver(*solver, *mixture, z, make_schedule(grid));
            if (run.calls != nfe)
              fail("bench eager: dsx's {} made {} calls at {} points, not {}", name, run.calls, points, nfe);
            c.dsx.push_back(run.seconds);
            c.dsx_model.push_back(run.model_seconds);
            const nlohmann::json e = run_json(
                // OpenBLAS sizes its own pool from the environment: the same threads as torch's, like dsx's
                fmt::format("OPENBLAS_NUM_THREADS={} {} {} {} --solver {} --points {} --batch {} --threads {} "
                            "--repeats 1 --precision {}",
                            t, shell_quote(a->python), shell_quote(a->script), shell_quote(file), name, points,
                            a->batch, t, a->precision));
            if (e.at("calls").get<int>() != nfe)
              fail("bench eager: the eager {} made {} calls", name, e.at("calls").dump());
            c.eager.push_back(e.at("wall_ms_per_sample").get<double>() * 1e-3 * double(a->batch));
            c.eager_model.push_back(e.at("model_ms_per_sample").get<double>() * 1e-3 * double(a->batch));
          }
    at::set_num_threads(threads_before);
    fmt::print("Gaussian mixture D={} K={}, batch {}, {}, polynomial grid; medians of {} interleaved rounds\n\n",
               a->dim, a->components, a->batch, a->precision, a->repeats);
    fmt::print(
        "| solver | NFE | threads | eager ms/sample | dsx ms/sample | speed-up | eager model ms | dsx model ms | "
        "model speed-up |\n|---|---|---|---|---|---|---|---|---|\n");
    const double per = 1e3 / double(a->batch);
    for (const auto& [key, c] : cells) {
      const auto& [name, nfe, t] = key;
      const double e = median(c.eager), d = median(c.dsx), em = median(c.eager_model), dm = median(c.dsx_model);
      fmt::print("| {} | {} | {} | {:.4f} | {:.4f} | {:.2f}× | {:.4f} | {:.4f} | {:.2f}× |\n", name, nfe, t, e * per,
                 d * per, e / d, em * per, dm * per, em / dm);
    }
    return 0;
  };
}

}  // namespace dsx::cli
