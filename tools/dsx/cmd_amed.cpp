// dsx teacher / dsx train-amed: cached teacher trajectories and AMED predictor training.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/utils.h>

#include "amed/predictor.h"
#include "amed/teacher_store.h"
#include "commands.h"
#include "core/progress.h"
#include "pipeline/amed_config.h"
#include "pipeline/sample_config.h"

namespace dsx::cli {
namespace {

int run_cached_teacher(TeacherConfig& c, const std::string& dir, const std::string& export_to, bool dry,
                       double lock_timeout, const Progress& progress) {
  cache::Cache store(cache::resolve_root(dir));
  const at::Device device = resolve_device(c.device);
  if (dry) {
    TeacherStoreReport p = probe_teacher(store, c.spec, c.model->info(), device);
    for (const auto& w : p.warnings) fmt::print(stderr, "teacher: warning: {}\n", w);
    fmt::print("{} teacher {} ({} of {} seeds cached)\n", cache::to_string(p.status), p.key, p.cached,
               c.spec.seeds.size());
    if (p.status == cache::JobState::Run) {  // say why: the closest cached teacher of this model and what differs
      cache::CacheKey key = teacher_key(c.spec, c.model->info(), device);
      std::vector<std::string> best;
      std::string best_key;
      for (const auto& e : store.list()) {
        if (e.kind != "teacher" || !e.complete() || e.key == key.hex) continue;
        if (e.meta.value("model", std::string()) != c.model->info().fingerprint) continue;
        auto d = cache::diff_params(e.meta["params"], key.params);
        if (e.meta.value("dtype_device", std::string()) != cache::json::parse(key.canonical)["dtype_device"])
          d.push_back("dtype/device changed");
        if (best_key.empty() || d.size() < best.size()) best = d, best_key = e.key;
      }
      if (!best_key.empty()) fmt::print("  vs cached {}: {}\n", best_key, fmt::join(best, "; "));
    }
    return 0;
  }
  TeacherStoreReport r = ensure_teacher(store, c.spec, c.model, device, progress, lock_timeout);
  for (const auto& w : r.warnings) fmt::print(stderr, "teacher: warning: {}\n", w);
  fmt::print("{} teacher {}: {} seeds cached, {} computed in {} shards, {:.2f} s, peak memory {:.0f} MiB\ncache {}\n",
             cache::to_string(r.status), r.key, r.cached, r.computed, r.shards_written, r.seconds, peak_rss_mib(),
             store.dir("teacher", r.key));
  if (!export_to.empty()) {
    TeacherShards shards(store, teacher_key(c.spec, c.model->info(), device), c.spec.seeds);
    export_teacher(shards, TeacherPlan(c.spec, c.model, device), export_to);
    fmt::print("wrote {}\n", export_to);
  }
  return 0;
}

}  // namespace

Action add_teacher(CLI::App& app) {
  auto* cmd = app.add_subcommand("teacher", "generate teacher trajectories (HDF5) for AMED training");
  auto config = std::make_shared<std::string>();
  auto sets = std::make_shared<std::vector<std::string>>();
  cmd->add_option("config", *config, "YAML: model, schedule (student), teacher {solver, m}, seeds, batch, output")
      ->required();
  cmd->add_option("--set", *sets, "override a config key (repeatable)");
  struct CacheArgs {
    bool use = false, dry = false;
    std::string dir, export_to;
    int workers = 1;
    double lock_timeout = -1;
  };
  auto ca = std::make_shared<CacheArgs>();
  cmd->add_flag("--cache", ca->use,
                "use the artifact cache (root: $DSX_CACHE_DIR, else .cache/dsx) instead of `output`");
  cmd->add_option("--cache-dir", ca->dir, "use the artifact cache at this root (implies --cache)");
  cmd->add_option("--export", ca->export_to, "with the cache: also write the requested seeds as one trajectory file");
  cmd->add_flag("--dry-run", ca->dry, "with the cache: print HIT/EXTEND/RUN and the key, compute nothing");
  cmd->add_option("--workers", ca->workers, "batches computed concurrently (>1 sets LibTorch threads to 1)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--lock-timeout", ca->lock_timeout, "seconds to wait for another process computing the same entry");
  return [config, sets, ca] {
    TeacherConfig c = load_teacher_config(*config, *sets);
    c.spec.workers = ca->workers;
    ProgressLine line("teacher", "samples", 0, [](const std::string& l) { fmt::print(stderr, "{}\n", l); });
    Progress progress = [&](int64_t done, int64_t total) { line.update(done, total); };
    if (ca->use || !ca->dir.empty())
      return run_cached_teacher(c, ca->dir, ca->export_to, ca->dry, ca->lock_timeout, progress);
    TeacherReport r = generate_teacher(c.spec, c.model, resolve_device(c.device), c.output, progress);
    fmt::print("teacher {} (M={}): {} samples, {} NFE each, {:.2f} s ({:.0f} samples/s)\nwrote {}\n", c.spec.solver,
               c.spec.m, r.samples, r.nfe_per_sample, r.seconds, r.samples / std::max(r.seconds, 1e-9), c.output);
    return 0;
  };
}

Action add_train_amed(CLI::App& app) {
  auto* cmd = app.add_subcommand("train-amed", "train an AMED predictor against a trajectory file");
  auto config = std::make_shared<std::string>();
  auto sets = std::make_shared<std::vector<std::string>>();
  auto quiet = std::make_shared<bool>(false);
  cmd->add_option("config", *config,
                  "YAML: model, trajectories, student, scale_dir, scale_time, batch, lr, seed, output")
      ->required();
  cmd->add_option("--set", *sets, "override a config key (repeatable)");
  cmd->add_flag("--quiet", *quiet, "log only the last iteration");
  return [config, sets, quiet] {
    TrainConfig c = load_train_config(*config, *sets);
    torch::manual_seed(c.spec.seed);
    AmedPredictor net(c.spec.settings.scale_dir, c.spec.settings.scale_time);
    fmt::print("predictor: {} parameters\n", net->parameter_count());
    TrainReport r =
        train_amed(c.spec, c.model, resolve_device(c.device), c.trajectories, net, [&](const TrainStepLog& l) {
          if (!*quiet || l.iteration == 0)
            fmt::print("iter {:4d} step {} loss {:.6g}  r {:.4f}±{:.4f}  c {:.5f}  a {:.5f}\n", l.iteration, l.step,
                       l.loss, l.r_mean, l.r_std, l.c_mean, l.a_mean);
        });
    save_predictor(net, &r.settings, c.output);
    fmt::print("trained on {} trajectories: {} Adam steps in {:.2f} s\nwrote {}\n", r.samples, r.adam_steps, r.seconds,
               c.output);
    return 0;
  };
}

}  // namespace dsx::cli
