#include "experiments/fit_stage.h"

#include <fstream>

#include <fmt/format.h>

#include "amed/teacher_store.h"
#include "experiments/stages.h"
#include "pipeline/report.h"

namespace dsx {

TeacherEndPoints teacher_end_points(const StageRun& ctx, const Job& teacher) {
  const TeacherSpec& ts = teacher_manifest(teacher);
  TeacherEndPoints out;
  cache::Lock reading = ctx.cache.lock(teacher.key, -1, cache::LockMode::Shared);
  TeacherShards shards(ctx.cache, teacher.key, ts.seeds);
  out.sigmas = shards.sigmas();  // the stored grid (a learned one is known only there)
  const at::Tensor states = shards.states(0, shards.size(), at::kDouble);
  out.x_T = states.select(1, 0).contiguous();
  out.target = states.select(1, states.size(1) - 1).contiguous();
  return out;
}

std::function<void(const FitProgress&)> fit_logger(const StageRun& ctx, const FitSettings& s) {
  return [&ctx, s](const FitProgress& p) {
    if (p.iteration % (10 * s.validate_every) == 0 || p.iteration == s.iterations)
      ctx.log(fmt::format("  {}: step {}/{}: batch RMSE {:.5g}, validation RMSE {:.5g}", ctx.job.label, p.iteration,
                          s.iterations, p.train_rmse, p.validation_rmse));
  };
}

std::vector<std::string> write_fit_curve(const StageRun& ctx, const FitResult& r, const std::string& title) {
  {
    std::ofstream out(ctx.out_dir + "/history.csv");
    out << "iteration,train_rmse,validation_rmse\n";
    out << fmt::format("0,,{:.17g}\n", r.init_rmse);
    for (const auto& p : r.history)
      out << fmt::format("{},{:.17g},{:.17g}\n", p.iteration, p.train_rmse, p.validation_rmse);
  }
  std::vector<std::string> files = {"history.csv"};
  Series curve{"validation RMSE", {{0.0, r.init_rmse}}};
  for (const auto& p : r.history) curve.points.push_back({double(p.iteration), p.validation_rmse});
  std::string warning;
  const std::string png = run_gnuplot(ctx.out_dir, "learning", title, "Adam step", "RMSE to the teacher (held out)",
                                      {curve}, false, &warning);
  if (!png.empty()) files.push_back(png);
  if (!warning.empty()) ctx.log(fmt::format("  {}: {}", ctx.job.label, warning));
  return files;
}

}  // namespace dsx
