// dsx teacher / dsx train-amed: cached teacher trajectories and AMED predictor training.
#include <torch/utils.h>
#include <fmt/format.h>

#include "amed/predictor.h"
#include "commands.h"
#include "pipeline/amed_config.h"
#include "pipeline/sample_config.h"

namespace dsx::cli {

Action add_teacher(CLI::App& app) {
  auto* cmd = app.add_subcommand("teacher", "generate teacher trajectories (HDF5) for AMED training");
  auto config = std::make_shared<std::string>();
  auto sets = std::make_shared<std::vector<std::string>>();
  cmd->add_option("config", *config, "YAML: model, schedule (student), teacher {solver, m}, seeds, batch, output")
      ->required();
  cmd->add_option("--set", *sets, "override a config key (repeatable)");
  return [config, sets] {
    TeacherConfig c = load_teacher_config(*config, *sets);
    int64_t last_print = -1;
    TeacherReport r = generate_teacher(c.spec, *c.model.model, resolve_device(c.device), c.output,
                                       [&](int64_t done, int64_t total) {
                                         int64_t pct = 100 * done / total;
                                         if (pct / 10 != last_print / 10 || done == total)
                                           fmt::print(stderr, "teacher: {}/{} samples\n", done, total);
                                         last_print = pct;
                                       });
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
  cmd->add_option("config", *config, "YAML: model, trajectories, student, scale_dir, scale_time, batch, lr, seed, output")
      ->required();
  cmd->add_option("--set", *sets, "override a config key (repeatable)");
  cmd->add_flag("--quiet", *quiet, "log only the last iteration");
  return [config, sets, quiet] {
    TrainConfig c = load_train_config(*config, *sets);
    torch::manual_seed(c.spec.seed);
    AmedPredictor net(c.spec.settings.scale_dir, c.spec.settings.scale_time);
    fmt::print("predictor: {} parameters\n", net->parameter_count());
    TrainReport r = train_amed(c.spec, *c.model.model, resolve_device(c.device), c.trajectories, net,
                               [&](const TrainStepLog& l) {
                                 if (!*quiet || l.iteration == 0)
                                   fmt::print("iter {:4d} step {} loss {:.6g}  r {:.4f}±{:.4f}  c {:.5f}  a {:.5f}\n",
                                              l.iteration, l.step, l.loss, l.r_mean, l.r_std, l.c_mean, l.a_mean);
                               });
    save_predictor(net, &r.settings, c.output);
    fmt::print("trained on {} trajectories: {} Adam steps in {:.2f} s\nwrote {}\n", r.samples, r.adam_steps,
               r.seconds, c.output);
    return 0;
  };
}

}  // namespace dsx::cli
