#include "learned/ld3.h"

#include <torch/optim/adam.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

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

namespace {

double rmse(const at::Tensor& a, const at::Tensor& b) { return std::sqrt((a - b).square().mean().item<double>()); }

// Rows of the training set, epoch after epoch, each epoch in a fresh order.
class BatchOrder {
 public:
  BatchOrder(int64_t rows, uint64_t seed) : order_(size_t(rows)), rng_(seed) {
    std::iota(order_.begin(), order_.end(), 0);
  }
  at::Tensor next(int64_t count) {
    std::vector<int64_t> out;
    while (int64_t(out.size()) < count) {
      if (at_ == 0) std::shuffle(order_.begin(), order_.end(), rng_);
      out.push_back(order_[at_]);
      at_ = (at_ + 1) % order_.size();
    }
    return at::tensor(out, at::kLong);
  }

 private:
  std::vector<int64_t> order_;
  std::mt19937_64 rng_;
  size_t at_ = 0;
};

}  // namespace

Ld3Result learn_schedule(const Ld3Settings& s, const Denoiser& model, const at::Tensor& x_T, const at::Tensor& target,
                         const std::function<void(const Ld3Progress&)>& progress) {
  const std::unique_ptr<Solver> solver = make_solver(s.solver, s.solver_options, "ld3.solver.");
  const CommonOptions common =
      CommonOptions::from(Options::resolve(all_option_specs(solver_entry(s.solver)), s.solver_options, "ld3.solver."));
  const int points = points_for_nfe(*solver, s.nfe);
  if (points == 0) fail("ld3: {} cannot take exactly {} NFE", s.solver, s.nfe);
  if (!solver->step_run(points)) fail("ld3.solver: {} has no step-level form to backpropagate through", s.solver);
  const int64_t total = x_T.size(0), held = s.validation, train = total - held;
  if (held < 1 || train < 1)
    fail("ld3: {} teacher trajectories cannot give validation = {} and at least one for training", total, held);
  if (s.iterations < 0 || s.batch < 1 || !(s.lr > 0) || s.validate_every < 1 || !(s.max_shift > 0))
    fail("ld3: iterations >= 0, batch >= 1, lr > 0, validate_every >= 1 and max_shift > 0 are required");

  ScheduleSpec init = s.init;
  init.num_steps = points;
  const std::vector<double> start = make_schedule(init, model.info().process.get());
  const double sigma_max = start.front(), sigma_min = start.back();
  at::Tensor logits = logits_from_grid(start).set_requires_grad(true);
  at::Tensor shifts = s.decoupled ? at::zeros({points}, at::kDouble).set_requires_grad(true) : at::Tensor();
  std::vector<at::Tensor> params{logits};
  if (shifts.defined()) params.push_back(shifts);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(s.lr));

  const at::ScalarType dtype = model.info().dtype;
  const at::Tensor train_x = x_T.slice(0, 0, train).to(dtype), train_y = target.slice(0, 0, train).to(dtype);
  const at::Tensor val_x = x_T.slice(0, train).to(dtype), val_y = target.slice(0, train).to(dtype);
  auto grids = [&] {
    const at::Tensor sig = grid_from_logits(logits, sigma_max, sigma_min);
    return std::make_pair(sig, decoupled_sigmas(sig, shifts, s.max_shift));
  };
  auto validate = [&] {
    at::NoGradGuard no_grad;
    const auto [sig, at_model] = grids();
    return rmse(solve_through_steps(*solver, common, model, val_x, sig, at_model), val_y);
  };
  auto snapshot = [&] {
    at::NoGradGuard no_grad;
    const auto [sig, at_model] = grids();
    std::vector<double> a(sig.data_ptr<double>(), sig.data_ptr<double>() + points);
    std::vector<double> m(at_model.data_ptr<double>(), at_model.data_ptr<double>() + points);
    a.front() = m.front() = sigma_max;  // exp(log σ) may differ in the last bit: the ends stay the family's own
    a.back() = m.back() = sigma_min;
    return std::make_pair(a, m);
  };

  Ld3Result r;
  r.init_rmse = r.best_rmse = validate();
  auto best = snapshot();
  BatchOrder order(train, s.shuffle_seed);
  double last_train = std::numeric_limits<double>::quiet_NaN();
  for (int64_t it = 1; it <= s.iterations; ++it) {
    const at::Tensor rows = order.next(std::min(s.batch, train));
    const auto [sig, at_model] = grids();
    const at::Tensor out = solve_through_steps(*solver, common, model, train_x.index_select(0, rows), sig, at_model);
    const at::Tensor loss = (out - train_y.index_select(0, rows)).square().mean();
    adam.zero_grad();
    loss.backward();
    adam.step();
    last_train = std::sqrt(loss.item<double>());
    if (it % s.validate_every != 0 && it != s.iterations) continue;
    const Ld3Progress p{it, last_train, validate()};
    r.history.push_back(p);
    if (progress) progress(p);
    if (p.validation_rmse < r.best_rmse) {
      r.best_rmse = p.validation_rmse;
      r.best_iteration = it;
      best = snapshot();
    }
  }
  LearnedSchedule& out = r.schedule;
  out.method = "ld3";
  out.sigmas = best.first;
  if (s.decoupled) out.model_sigmas = best.second;
  out.afs = common.afs;
  out.info = {{"solver", s.solver},
              {"nfe", s.nfe},
              {"init", init.kind},
              {"decoupled", s.decoupled},
              {"iterations", s.iterations},
              {"batch", s.batch},
              {"lr", s.lr},
              {"train_trajectories", train},
              {"validation_trajectories", held},
              {"init_validation_rmse", r.init_rmse},
              {"validation_rmse", r.best_rmse},
              {"best_iteration", r.best_iteration}};
  return r;
}

}  // namespace dsx
