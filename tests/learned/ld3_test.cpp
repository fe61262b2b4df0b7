// Schedules learned end to end (learned/ld3.h) against independent truths:
//   - the logit parameterisation reproduces any grid, end points exact;
//   - the differentiable step path equals each solver's fused sampling loop (a separate implementation) on
//     the same grid, AFS included, and with decoupled model σ equals the fused loop through RetimedDenoiser;
//   - its gradient w.r.t. the interval logits and model shifts equals central finite differences, and
//     detaching the history between steps (AMED's per-step mode) gives a different, wrong gradient;
//   - training finds the brute-force optimum of a one-free-point grid (Euler, NFE 2) on an exact Gaussian.
#include <boost/test/unit_test.hpp>

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "amed/solver_catalog.h"
#include "diffusion/schedule.h"
#include "learned/ld3.h"
#include "learned/retimed_model.h"
#include "support/check.h"
#include "support/testbeds.h"

using namespace dsx;

namespace {

using Raw = std::map<std::string, RawOption>;

Raw raw(const std::map<std::string, std::string>& text) {
  Raw out;
  for (const auto& [k, v] : text) out[k] = RawOption{v, "test"};
  return out;
}

CommonOptions common_of(const std::string& solver, const Raw& options) {
  return CommonOptions::from(Options::resolve(all_option_specs(solver_entry(solver)), options, "test."));
}

std::vector<double> vec(const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

double loss_of(const Solver& solver, const CommonOptions& common, const Denoiser& model, const at::Tensor& x_T,
               const at::Tensor& target, const at::Tensor& logits, const at::Tensor& shifts) {
  const at::Tensor sig = grid_from_logits(logits, 80.0, 0.002);
  return (solve_through_steps(solver, common, model, x_T, sig, decoupled_sigmas(sig, shifts, 0.3)) - target)
      .square()
      .mean()
      .item<double>();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ld3)

BOOST_AUTO_TEST_CASE(logits_reproduce_any_grid) {
  for (const char* kind : {"polynomial", "logsnr", "time_uniform"}) {
    const std::vector<double> grid = test::family_grid(kind, 7);
    const std::vector<double> back = vec(grid_from_logits(logits_from_grid(grid), 80.0, 0.002));
    BOOST_REQUIRE_EQUAL(back.size(), grid.size());
    for (size_t i = 0; i < grid.size(); ++i)
      BOOST_TEST(std::abs(back[i] / grid[i] - 1) < 1e-12, kind << " point " << i);
    BOOST_TEST(std::abs(back.front() - 80.0) < 1e-12);
    BOOST_TEST(std::abs(back.back() - 0.002) < 1e-15);
  }
  // Shifts: masked at both ends, bounded by max_shift in log σ.
  const at::Tensor sig = at::tensor(std::vector<double>{80, 10, 1, 0.002}, at::kDouble);
  const std::vector<double> m = vec(decoupled_sigmas(sig, at::full({4}, 100.0, at::kDouble), 0.2));
  BOOST_TEST(m[0] == 80.0);
  BOOST_TEST(m[3] == 0.002);
  BOOST_TEST(std::abs(std::log(m[1] / 10.0) - 0.2) < 1e-12);
}

BOOST_AUTO_TEST_CASE(step_path_equals_fused_loop) {
  const test::Toy192 toy = test::toy192();
  const std::vector<double> grid = test::family_grid("polynomial", 7);
  const at::Tensor sig = at::tensor(grid, at::kDouble);
  for (const char* name : {"euler", "ipndm", "ipndm_v", "dpmpp", "deis", "scire", "unipc"})
    for (const char* afs : {"false", "true"}) {
      const Raw options = raw({{"afs", afs}});
      const auto solver = make_solver(name, options);
      const at::Tensor step = solve_through_steps(*solver, common_of(name, options), *toy.model, toy.x_T, sig, sig);
      const auto fused = test::run_solver(name, {{"afs", afs}}, *toy.model, toy.x_T, grid);
      test::check_close(step, fused.x, 1e-10, 1e-10, fmt::format("{} afs={}", name, afs));
    }
  // Decoupled model σ: the fused loop through RetimedDenoiser.
  std::vector<double> at_model = grid;
  for (size_t i = 1; i + 1 < at_model.size(); ++i) at_model[i] *= std::exp(0.05 * double(i % 3) - 0.04);
  const RetimedDenoiser retimed(*toy.model, grid, at_model);
  for (const char* name : {"ipndm", "unipc"}) {
    const auto solver = make_solver(name, {});
    const at::Tensor step =
        solve_through_steps(*solver, common_of(name, {}), *toy.model, toy.x_T, sig, at::tensor(at_model, at::kDouble));
    const auto fused = test::run_solver(name, {}, retimed, toy.x_T, grid);
    test::check_close(step, fused.x, 1e-10, 1e-10, fmt::format("{} decoupled", name));
    const auto plain = test::run_solver(name, {}, *toy.model, toy.x_T, grid);
    BOOST_TEST(test::rmse(fused.x, plain.x) > 1e-4);  // the shifts matter
  }
}

BOOST_AUTO_TEST_CASE(gradient_equals_finite_differences) {
  const test::Toy192 toy = test::toy192();
  const std::vector<double> grid = test::family_grid("polynomial", 6);
  const at::Tensor base = logits_from_grid(grid);
  const at::Tensor shifts0 = at::tensor(std::vector<double>{0, 0.3, -0.2, 0.1, 0.4, 0}, at::kDouble);
  // A target off the exact solution, so the loss is not at a stationary point.
  const at::Tensor target = toy.model->ode_solution(toy.x_T, 80.0, 0.002) + 0.05;
  for (const char* name : {"ipndm", "deis", "unipc", "dpmpp"}) {
    const auto solver = make_solver(name, {});
    const CommonOptions common = common_of(name, {});
    at::Tensor logits = base.clone().set_requires_grad(true), shifts = shifts0.clone().set_requires_grad(true);
    const at::Tensor sig = grid_from_logits(logits, 80.0, 0.002);
    (solve_through_steps(*solver, common, *toy.model, toy.x_T, sig, decoupled_sigmas(sig, shifts, 0.3)) - target)
        .square()
        .mean()
        .backward();
    const double h = 1e-6;
    // Central difference of the loss in coordinate j of the logits (or of the shifts).
    auto fd = [&](bool logit, int64_t j) {
      at::Tensor up = (logit ? base : shifts0).clone(), down = up.clone();
      up[j] += h;
      down[j] -= h;
      return (loss_of(*solver, common, *toy.model, toy.x_T, target, logit ? up : base, logit ? shifts0 : up) -
              loss_of(*solver, common, *toy.model, toy.x_T, target, logit ? down : base, logit ? shifts0 : down)) /
             (2 * h);
    };
    for (const bool logit : {true, false}) {
      const at::Tensor grad = logit ? logits.grad() : shifts.grad();
      for (int64_t j = 0; j < grad.size(0); ++j) {
        const double want = fd(logit, j), got = grad[j].item<double>();
        BOOST_TEST(std::abs(got - want) <= 1e-5 * std::abs(want) + 1e-10,
                   name << (logit ? " logit " : " shift ") << j << ": autograd " << got << ", FD " << want);
      }
    }
  }
  // Detached history (gradients within one step, as AMED trains) misses the dependence of later steps on
  // earlier σ: its gradient differs from the true one.
  const auto solver = make_solver("ipndm", {});
  auto grad_with = [&](bool keep) {
    at::Tensor logits = base.clone().set_requires_grad(true);
    const at::Tensor sig = grid_from_logits(logits, 80.0, 0.002).to(at::kDouble);
    std::unique_ptr<StepRun> run = solver->step_run(int(grid.size()));
    run->keep_graph(keep);
    run->reset();
    at::Tensor x = toy.x_T;
    for (int64_t i = 0; i + 1 < int64_t(grid.size()); ++i) {
      const at::Tensor s = sig[i].expand({x.size(0)});
      x = run->step(x, toy.model->denoise(x, s), s, sig[i + 1].expand({x.size(0)}));
    }
    (x - target).square().mean().backward();
    return logits.grad().clone();
  };
  BOOST_TEST((grad_with(false) - grad_with(true)).abs().max().item<double>() >
             0.01 * grad_with(true).abs().max().item<double>());
}

BOOST_AUTO_TEST_CASE(training_finds_the_brute_force_optimum, *boost::unit_test::timeout(120)) {
  // Euler at NFE 2 has one free point σ_1; its final error on an exact Gaussian is scanned on a fine log grid.
  const test::Toy192 toy = test::toy192();
  const at::Tensor target = toy.model->ode_solution(toy.x_T, 80.0, 0.002);
  const auto euler = make_solver("euler", {});
  auto error_at = [&](double s1) {
    const at::Tensor sig = at::tensor(std::vector<double>{80.0, s1, 0.002}, at::kDouble);
    return std::sqrt(
        (solve_through_steps(*euler, {}, *toy.model, toy.x_T, sig, sig) - target).square().mean().item<double>());
  };
  double best_s = 0, best = std::numeric_limits<double>::infinity();
  for (int k = 1; k < 4000; ++k) {
    const double s1 = std::exp(std::log(0.002) + (std::log(80.0) - std::log(0.002)) * k / 4000.0);
    const double e = error_at(s1);
    if (e < best) best = e, best_s = s1;
  }
  Ld3Settings s;
  s.solver = "euler";
  s.nfe = 2;
  s.init.kind = "polynomial";
  s.fit.iterations = 400;
  s.fit.batch = toy.x_T.size(0);  // full batch: plain gradient descent on the scanned function
  s.fit.lr = 0.05;
  s.fit.validation = toy.x_T.size(0);
  // Training and validation rows are the same trajectories, so the kept grid minimises the scanned error.
  const Ld3Result r = learn_schedule(s, *toy.model, at::cat({toy.x_T, toy.x_T}), at::cat({target, target}));
  BOOST_REQUIRE_EQUAL(r.schedule.sigmas.size(), 3u);
  BOOST_TEST_MESSAGE(fmt::format("brute force σ1 {:.6g} RMSE {:.6g}; ld3 σ1 {:.6g} RMSE {:.6g} (start {:.6g})", best_s,
                                 best, r.schedule.sigmas[1], r.fit.best_rmse, r.fit.init_rmse));
  BOOST_TEST(r.fit.init_rmse > 1.2 * best);  // the start (polynomial ρ = 7) is not already optimal
  BOOST_TEST(r.fit.best_rmse <= best * (1 + 1e-4));
  BOOST_TEST(std::abs(std::log(r.schedule.sigmas[1] / best_s)) < 0.01);
  BOOST_TEST(std::abs(error_at(r.schedule.sigmas[1]) - r.fit.best_rmse) < 1e-12);  // the kept grid is the one scored
  BOOST_TEST(r.schedule.method == "ld3");
  BOOST_TEST(r.schedule.model_sigmas.empty());
}

BOOST_AUTO_TEST_SUITE_END()
