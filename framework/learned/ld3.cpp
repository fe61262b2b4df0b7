#include "learned/ld3.h"

#include <algorithm>
#include <cmath>

#include "amed/solver_catalog.h"
#include "core/error.h"

namespace dsx {

at::Tensor grid_from_logits(const at::Tensor& logits, double sigma_max, double sigma_min) {
  const double top = std::log(sigma_max), span = std::log(sigma_min) - top;
  const at::Tensor fractions = at::cumsum(at::softmax(logits, 0), 0);  // [P−1], the last ≈ 1
  const int64_t interior = logits.size(0) - 1;
  const at::Tensor inner = top + span * fractions.slice(0, 0, interior);
  const auto opts = logits.options();
  return at::exp(at::cat({at::full({1}, top, opts), inner, at::full({1}, std::log(sigma_min), opts)}));
}

at::Tensor logits_from_grid(const std::vector<double>& sigmas) {
  validate_sigma_grid(sigmas, "ld3 init");
  std::vector<double> theta;
  for (size_t i = 0; i + 1 < sigmas.size(); ++i)
    theta.push_back(std::log(std::log(sigmas[i]) - std::log(sigmas[i + 1])));
  return at::tensor(theta, at::kDouble);
}

at::Tensor decoupled_sigmas(const at::Tensor& sigmas, const at::Tensor& shifts, double max_shift) {
  if (!shifts.defined()) return sigmas;
  at::Tensor mask = at::ones_like(shifts);
  mask[0] = 0;
  mask[-1] = 0;
  return sigmas * at::exp(max_shift * at::tanh(shifts) * mask);
}

at::Tensor solve_through_steps(const Solver& solver, const CommonOptions& common, const Denoiser& model,
                               const at::Tensor& x_T, const at::Tensor& sigmas, const at::Tensor& model_sigmas) {
  const int64_t points = sigmas.size(0), b = x_T.size(0);
  std::unique_ptr<StepRun> run = solver.step_run(int(points));
  if (!run) fail("ld3: the solver has no step-level form (use euler, ipndm, ipndm_v, dpmpp, deis, scire or unipc)");
  run->keep_graph(true);
  run->reset();
  Evaluator model_calls(model, common);
  const at::Tensor grid = sigmas.to(x_T.scalar_type()), at_model = model_sigmas.to(x_T.scalar_type());
  auto per_sample = [&](const at::Tensor& grid_values, int64_t i) { return grid_values[i].expand({b}); };
  at::Tensor x = x_T;
  for (int64_t i = 0; i + 1 < points; ++i) {
    const at::Tensor den = model_calls.data(x, per_sample(at_model, i));
    x = run->step(x, den, per_sample(grid, i), per_sample(grid, i + 1));
  }
  if (run->pending()) x = run->finish(x, model_calls.data(x, per_sample(at_model, points - 1)));
  return x;
}

Ld3Result learn_schedule(const Ld3Settings& s, const Denoiser& model, const at::Tensor& x_T, const at::Tensor& target,
                         const std::function<void(const FitProgress&)>& progress, const dist::DataParallel& dp) {
  const std::unique_ptr<Solver> solver = make_solver(s.solver, s.solver_options, "ld3.solver.");
  const CommonOptions common =
      CommonOptions::from(Options::resolve(all_option_specs(solver_entry(s.solver)), s.solver_options, "ld3.solver."));
  const int points = points_for_nfe(*solver, s.nfe);
  if (points == 0) fail("ld3: {} cannot take exactly {} NFE", s.solver, s.nfe);
  if (!solver->step_run(points)) fail("ld3.solver: {} has no step-level form to backpropagate through", s.solver);
  if (!(s.max_shift > 0)) fail("ld3: max_shift = {} must be positive", s.max_shift);

  ScheduleSpec init = s.init;
  init.num_steps = points;
  const std::vector<double> start = make_schedule(init, model.info().process.get());
  const double sigma_max = start.front(), sigma_min = start.back();
  at::Tensor logits = logits_from_grid(start).set_requires_grad(true);
  at::Tensor shifts = s.decoupled ? at::zeros({points}, at::kDouble).set_requires_grad(true) : at::Tensor();
  std::vector<at::Tensor> params{logits};
  if (shifts.defined()) params.push_back(shifts);
  auto grids = [&] {
    const at::Tensor sig = grid_from_logits(logits, sigma_max, sigma_min);
    return std::make_pair(sig, decoupled_sigmas(sig, shifts, s.max_shift));
  };
  Ld3Result r;
  LearnedSchedule& out = r.schedule;
  auto keep = [&] {
    at::NoGradGuard no_grad;
    const auto [sig, at_model] = grids();
    out.sigmas.assign(sig.data_ptr<double>(), sig.data_ptr<double>() + points);
    out.model_sigmas.assign(at_model.data_ptr<double>(), at_model.data_ptr<double>() + points);
    out.sigmas.front() = out.model_sigmas.front() = sigma_max;  // exp(log σ) may differ in the last bit: the
    out.sigmas.back() = out.model_sigmas.back() = sigma_min;    // ends stay the family's own
  };
  const at::ScalarType dtype = model.info().dtype;
  r.fit = fit_endpoints(
      s.fit, params,
      [&](const at::Tensor& x) {
        const auto [sig, at_model] = grids();
        return solve_through_steps(*solver, common, model, x, sig, at_model);
      },
      x_T.to(dtype), target.to(dtype), keep, progress, dp);
  out.method = "ld3";
  if (!s.decoupled) out.model_sigmas.clear();
  out.afs = common.afs;
  out.info = {{"solver", s.solver},
              {"nfe", s.nfe},
              {"init", init.kind},
              {"decoupled", s.decoupled},
              {"iterations", s.fit.iterations},
              {"batch", s.fit.batch},
              {"lr", s.fit.lr},
              {"train_trajectories", x_T.size(0) - s.fit.validation},
              {"validation_trajectories", s.fit.validation},
              {"init_validation_rmse", r.fit.init_rmse},
              {"validation_rmse", r.fit.best_rmse},
              {"best_iteration", r.fit.best_iteration}};
  return r;
}

}  // namespace dsx
