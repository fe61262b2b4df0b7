// dsx run SPEC.yaml: an experiment spec as a oneTBB stage graph with cached artifacts and a run directory.
#include <ATen/Parallel.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <fstream>
#include <memory>

#include "commands.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/registry.h"
#include "dist/group.h"
#include "dist/launch.h"
#include "dist/world.h"
#include "experiments/image_fd.h"
#include "experiments/stages.h"
#include "pipeline/dataset_config.h"
#include "pipeline/graph.h"
#include "pipeline/model_config.h"
#include "pipeline/run_dir.h"
#include "pipeline/sample_config.h"
#include "solvers/solver.h"

namespace dsx::cli {

namespace {

// The report's first table (its headline metric) on stdout, so a run ends with its result.
void print_first_table(const std::string& report) {
  std::ifstream in(report);
  std::string line, out;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) {
      if (inside) break;
      inside = true;
    }
    if (inside) out += line + "\n";
  }
  if (!out.empty()) fmt::print("\n{}(all tables: {})\n\n", out, report);
}

// What --explain can name: stage kinds, `model.KIND` and `schedule.KIND`, each with its schema.
struct Explained {
  std::string name, description;
  Schema schema;
};

std::vector<Explained> explainable() {
  std::vector<Explained> out;
  for (const auto& k : stage_kinds()) out.push_back({k.name, k.description, k.schema});
  out.push_back({"evaluate.fd", "evaluate's image Fréchet distance", fd_schema()});
  out.push_back({"evaluate.fd.features", "the feature extractor of evaluate's fd", fd_features_schema()});
  for (const auto& k : model_kinds()) out.push_back({"model." + k.name, k.description, k.schema});
  for (const auto& k : dataset_kinds()) out.push_back({"dataset." + k.name, k.description, dataset_schema(k)});
  for (const auto& k : noise_process_kinds()) {
    Schema s{opt::choice("kind", {k.name}, k.name, "the process")};
    s.insert(s.end(), k.options.begin(), k.options.end());
    out.push_back({"process." + k.name, k.description, s});
  }
  for (const auto& k : schedule_kinds()) {
    Schema s = schedule_keys();
    s.insert(s.end(), k.options.begin(), k.options.end());
    out.push_back({"schedule." + k.name, k.description, s});
  }
  return out;
}

}  // namespace

Action add_run(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "run an experiment spec (stages: teacher, train_amed, evaluate, report)");
  struct Args {
    std::string spec, cache_dir, runs_dir = "runs", explain;
    std::vector<std::string> sets, force;
    bool dry = false, light = false, print_config = false;
    int nproc = 1;
    double timeout = 1800;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("spec", a->spec, "experiment spec (YAML)")->check(CLI::ExistingFile);
  cmd->add_option("--explain", a->explain,
                  "print every key (type, default, help) of a stage kind, model.KIND, dataset.KIND, process.KIND or "
                  "schedule.KIND "
                  "and exit; "
                  "'all' for every one");
  cmd->add_option("--set", a->sets, "override a spec key, a.b=v (repeatable)");
  cmd->add_flag("--dry-run", a->dry, "print each stage as HIT or RUN with the reason; compute nothing");
  cmd->add_flag("--light", a->light, "apply the spec's `light` overrides (small seed ranges)");
  cmd->add_flag("--print-config", a->print_config,
                "print the resolved spec (includes, light and --set applied; one document per sweep point) and "
                "every job's parameters with defaults filled in; run nothing");
  cmd->add_option("--cache-dir", a->cache_dir, "artifact cache root (default $DSX_CACHE_DIR, else .cache/dsx)");
  cmd->add_option("--force", a->force, "recompute STAGE (name or label) or 'all' (repeatable)");
  cmd->add_option("--runs-dir", a->runs_dir, "where run directories are created (default: runs)");
  cmd->add_option("--nproc", a->nproc,
                  "start N local ranks of this command (torchrun conventions; across nodes, start one process per "
                  "rank with RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT or under srun instead)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--timeout", a->timeout,
                  "seconds a rank waits for the others in a collective of a multi-process run (a rank that dies "
                  "is noticed at once)")
      ->check(CLI::Range(1.0, 7.0 * 24 * 3600));
  return [a] {
    if (!a->explain.empty()) {
      const std::vector<Explained> all = explainable();
      if (a->explain == "all") {
        for (const auto& k : all) fmt::print("{}\n", explain_schema(k.name, k.description, k.schema));
      } else {
        const Explained& k = find_entry(all, a->explain, "--explain");
        fmt::print("{}", explain_schema(k.name, k.description, k.schema));
      }
      return 0;
    }
    if (a->spec.empty()) fail("dsx run: give an experiment spec (or --explain KIND)");
    const dist::World world = dist::world_from_env();
    dist::claim_local_gpu(world);  // before anything starts CUDA
    if (a->nproc > 1 && !a->dry && !a->print_config) {
      if (world.distributed())
        fail("--nproc {}: this process is already rank {} of {} ({} environment): use one or the other", a->nproc,
             world.rank, world.size, world.launcher);
      return dist::launch_local(a->nproc, dist::command_line_without("--nproc"));
    }
    Plan plan = load_plan(a->spec, SpecOptions{a->sets, a->light}, stage_kinds());
    if (a->print_config) {
      fmt::print("{}", plan.resolved_yaml);
      return 0;
    }
    for (const auto& f : a->force) {
      bool known = f == "all";
      for (const auto& j : plan.jobs) known = known || j.stage == f || j.label == f;
      if (!known) fail("--force {}: no such stage in {}", f, a->spec);
    }
    compute_keys(plan);
    cache::Cache store(cache::resolve_root(a->cache_dir));
    GraphOptions go{{a->force.begin(), a->force.end()}, a->dry};
    std::vector<JobStatus> planned = plan_status(plan, store, go);
    if (a->dry) {
      for (size_t i = 0; i < plan.jobs.size(); ++i) {
        const Job& j = plan.jobs[i];
        fmt::print("{:<6} {:<28} {:<10} {}  {}\n", to_string(planned[i].state), j.label, j.kind->name,
                   j.key.hex.substr(0, 12), planned[i].reason);
      }
      return 0;
    }
    std::unique_ptr<dist::Group> group;
    if (world.distributed())
      group = std::make_unique<dist::Group>(
          world, std::chrono::milliseconds(int64_t(a->timeout * 1000)));  // the rendezvous: every rank or an error
    const std::string prefix = world.distributed() ? fmt::format("[rank {}] ", world.rank) : "";
    if (world.rank != 0) {  // rank 0 owns the run directory, its log and the report
      auto print = [&prefix](const std::string& l) {
        fmt::print("{}{}\n", prefix, l);
        std::fflush(stdout);
      };
      std::vector<JobStatus> st = run_graph_distributed(plan, store, go, nullptr, print, *group);
      int failed = 0;
      for (const auto& s : st) failed += s.state == JobState::Failed || s.state == JobState::Cancelled;
      print(failed ? fmt::format("{} stage(s) failed", failed) : "done");
      return failed ? 1 : 0;
    }
    RunDir rd = RunDir::create(a->runs_dir, plan.name, a->spec, plan.resolved_yaml);
    const std::string device = plan.jobs.empty() ? "cpu" : plan.jobs[0].device.str();
    write_text(rd.file("env.json"), env_info(device).dump(2));
    rd.log(fmt::format("run directory: {}", rd.path));
    rd.log(fmt::format("cache: {}", store.root()));
    for (size_t i = 0; i < plan.jobs.size(); ++i)
      rd.log(fmt::format("plan: {:<6} {} ({})", to_string(planned[i].state), plan.jobs[i].label, planned[i].reason));
    auto t0 = std::chrono::steady_clock::now();
    auto log = [&rd, &prefix](const std::string& l) { rd.log(prefix + l); };
    if (group)
      rd.log(fmt::format("{} ranks ({}), rendezvous at {}:{}; collectives: {}", world.size, world.launcher,
                         world.master_addr, world.master_port,
                         dist::Group::has_nccl() ? "Gloo (CPU tensors), NCCL (CUDA tensors)"
                                                 : "Gloo (CUDA tensors through host copies)"));
    std::vector<JobStatus> st =
        group ? run_graph_distributed(plan, store, go, &rd, log, *group) : run_graph(plan, store, go, &rd, log);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    json summary = {{"name", plan.name},     {"spec", a->spec}, {"run_dir", rd.path},
                    {"cache", store.root()}, {"seconds", secs}, {"ranks", world.size}};
    json stages = json::array();
    int failed = 0;
    for (size_t i = 0; i < plan.jobs.size(); ++i) {
      const Job& j = plan.jobs[i];
      stages.push_back({{"label", j.label},
                        {"stage", j.stage},
                        {"kind", j.kind->name},
                        {"key", j.key.hex},
                        {"status", to_string(st[i].state)},
                        {"reason", st[i].reason},
                        {"seconds", st[i].seconds},
                        {"error", st[i].error},
                        {"sweep_point", j.point}});
      if (st[i].state == JobState::Failed || st[i].state == JobState::Cancelled) ++failed;
    }
    summary["stages"] = stages;
    summary["ok"] = failed == 0;
    summary["peak_rss_mib"] = peak_rss_mib();
    summary["models_loaded"] = ModelPool::process().loads();
    summary["model_conversions"] = ModelPool::process().conversions();
    summary["solvers_built"] = solvers_built();
    std::ifstream results(rd.file("results.json"));
    if (results) summary["results"] = json::parse(results);
    write_text(rd.file("summary.json"), summary.dump(2));
    for (size_t i = 0; i < plan.jobs.size(); ++i)
      rd.log(fmt::format("{:<9} {:<28} {:7.2f} s{}", to_string(st[i].state), plan.jobs[i].label, st[i].seconds,
                         st[i].error.empty() ? "" : "  " + st[i].error));
    print_first_table(rd.file("report.md"));
    rd.log(fmt::format("{} in {:.1f} s, peak memory {:.0f} MiB, {} model load(s), {} solver(s) built; run directory {}",
                       failed ? fmt::format("{} stage(s) failed", failed) : "done", secs, peak_rss_mib(),
                       ModelPool::process().loads(), solvers_built(), rd.path));
    return failed ? 1 : 0;
  };
}

}  // namespace dsx::cli
