// The step-level form (solvers/multistep.h) against the solvers' own fused sampling loops: both evaluate one
// weight formula, with host doubles and with per-sample tensors (UniPC's predictor–corrector run included). Independent
// truths: (1) on a shared grid the step-level run reproduces sample() to float64 rounding for every solver that has the
// form, across option sets; (2) a batch whose samples follow different grids equals each sample run alone on its own
// grid (the per-sample σ arithmetic of AMED's refined grids).
#include <boost/test/unit_test.hpp>

#include "amed/solver_catalog.h"
#include "diffusion/schedule.h"
#include "solvers/deis.h"
#include "solvers/multistep.h"
#include "support/check.h"
#include "support/testbeds.h"

namespace dsx::test {
namespace {

using Opts = std::map<std::string, std::string>;

struct RuleCase {
  std::string solver;
  Opts options;
};

const std::vector<RuleCase>& rule_cases() {
  static const std::vector<RuleCase> c = {
      {"euler", {}},
      {"ipndm", {{"max_order", "1"}}},
      {"ipndm", {{"max_order", "2"}}},
      {"ipndm", {}},
      {"ipndm_v", {}},
      {"ipndm_v", {{"max_order", "3"}}},
      {"ipndm_v", {{"variant", "corrected"}}},
      {"dpmpp", {}},
      {"dpmpp", {{"max_order", "2"}}},
      {"dpmpp", {{"variant", "corrected"}}},
      {"dpmpp", {{"lower_order_final", "false"}}},
      {"dpmpp", {{"predict_x0", "false"}}},
      {"dpmpp", {{"predict_x0", "false"}, {"max_order", "2"}, {"lower_order_final", "false"}}},
      {"deis", {}},
      {"deis", {{"max_order", "1"}}},
      {"deis", {{"max_order", "2"}}},
      {"deis", {{"max_order", "4"}}},
      {"deis", {{"max_order", "4"}, {"quadrature", "exact"}}},
      {"unipc", {}},
      {"unipc", {{"max_order", "1"}}},
      {"unipc", {{"max_order", "2"}, {"variant", "bh1"}}},
      {"unipc", {{"predict_x0", "false"}}},
      {"unipc", {{"predict_x0", "false"}, {"variant", "bh1"}, {"lower_order_final", "false"}}},
      {"unipc", {{"final_corrector", "never"}}},
      {"scire", {}},
      {"scire", {{"order", "1"}}},
      {"scire", {{"order", "3"}}},
      {"scire", {{"algorithm", "v2"}}},
      {"scire", {{"algorithm", "v2"}, {"order", "3"}, {"phi", "one"}}},
      {"scire", {{"phi", "0.6667"}, {"lower_order_final", "false"}}},
  };
  return c;
}

std::unique_ptr<Solver> build(const RuleCase& c) {
  std::map<std::string, RawOption> raw;
  for (const auto& [k, v] : c.options) raw[k] = {v, "test"};
  return make_solver(c.solver, raw);
}

std::string label(const RuleCase& c) {
  std::string s = c.solver;
  for (const auto& [k, v] : c.options) s += " " + k + "=" + v;
  return s;
}

// Runs `solver`'s step form over per-sample grids: grids[b] is sample b's grid (all of one length).
at::Tensor run_steps(const Solver& solver, const Denoiser& model, at::Tensor x,
                     const std::vector<std::vector<double>>& grids) {
  const int n = int(grids[0].size());
  auto column = [&](int i) {
    std::vector<double> v;
    for (const auto& g : grids) v.push_back(g[size_t(i)]);
    return at::tensor(v, x.options());
  };
  std::unique_ptr<StepRun> run = solver.step_run(n);
  for (int i = 0; i + 1 < n; ++i) {
    at::Tensor from = column(i);
    x = run->step(x, model.denoise(x, from), from, column(i + 1));
  }
  if (run->pending()) x = run->finish(x, model.denoise(x, column(n - 1)));
  return x;
}

std::vector<double> grid(const std::string& kind, int n, double rho = 7.0) {
  ScheduleSpec s;
  s.kind = kind;
  s.num_steps = n;
  s.rho = rho;
  return make_schedule(s);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(multistep_form)

BOOST_AUTO_TEST_CASE(solvers_with_the_form_are_the_linear_multistep_ones) {
  for (const auto& e : solver_entries()) {
    if (e.needs_file) continue;
    // Every solver whose steps use one model call at the step's start (the singlestep ones evaluate inside).
    const bool expected = e.name == "euler" || e.name == "ipndm" || e.name == "ipndm_v" || e.name == "dpmpp" ||
                          e.name == "deis" || e.name == "unipc" || e.name == "scire";
    BOOST_TEST_CONTEXT(e.name) { BOOST_TEST((make_solver(e.name, {})->step_run(5) != nullptr) == expected); }
  }
}

BOOST_AUTO_TEST_CASE(step_level_run_reproduces_sample) {
  auto t = toy192();  // 4 samples, float64
  for (const auto& c : rule_cases())
    for (int n : {3, 6, 11}) {
      BOOST_TEST_CONTEXT(label(c) << " N=" << n) {
        auto solver = build(c);
        if (n < solver->min_points()) continue;
        const std::vector<double> g = grid("polynomial", n);
        at::Tensor expected = solver->sample(*t.model, t.x_T.clone(), g);
        at::Tensor actual = run_steps(*solver, *t.model, t.x_T.clone(), {g, g, g, g});
        check_close(actual, expected, 1e-12, 1e-12, "step-level vs sample");
      }
    }
}

BOOST_AUTO_TEST_CASE(per_sample_grids_equal_separate_runs) {
  auto t = toy192();
  const std::vector<std::vector<double>> grids = {grid("polynomial", 7), grid("polynomial", 7, 3.0), grid("logsnr", 7),
                                                  grid("time_uniform", 7)};
  for (const auto& c : rule_cases()) {
    BOOST_TEST_CONTEXT(label(c)) {
      auto solver = build(c);
      at::Tensor batch = run_steps(*solver, *t.model, t.x_T.clone(), grids);
      for (int b = 0; b < 4; ++b) {
        at::Tensor alone = solver->sample(*t.model, t.x_T.narrow(0, b, 1).clone(), grids[size_t(b)]);
        check_close(batch.narrow(0, b, 1), alone, 1e-11, 1e-11, "sample " + std::to_string(b));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(scale_multiplies_the_model_terms_only) {
  // x_next(c) = a·x + c·Σ b_k m_k is affine in c: x_next(c) − x_next(0) = c·(x_next(1) − x_next(0)).
  auto t = toy192();
  const std::vector<double> g = grid("polynomial", 5);
  for (const auto& c : rule_cases()) {
    BOOST_TEST_CONTEXT(label(c)) {
      auto solver = build(c);
      auto run_with = [&](double scale) {
        std::unique_ptr<StepRun> run = solver->step_run(5);
        at::Tensor x = t.x_T.clone();
        for (int i = 0; i + 1 < 4; ++i) {
          at::Tensor from = at::full({4}, g[size_t(i)], x.options()), to = at::full({4}, g[size_t(i + 1)], x.options());
          x = run->step(x, t.model->denoise(x, from), from, to);
        }
        at::Tensor from = at::full({4}, g[3], x.options()), to = at::full({4}, g[4], x.options());
        return run->step(x, t.model->denoise(x, from), from, to, at::full({4}, scale, x.options()));
      };
      at::Tensor x0 = run_with(0.0), x1 = run_with(1.0), xc = run_with(0.7);
      check_close(xc - x0, 0.7 * (x1 - x0), 1e-12, 1e-12, "affine in c");
      BOOST_TEST((x1 - x0).abs().max().item<double>() > 1e-3);
    }
  }
}

BOOST_AUTO_TEST_CASE(steps_are_differentiable_in_their_sigmas) {
  // AMED trains through the step's σ values: autograd of the last step's output w.r.t. its `from` and `to`
  // (model output held fixed) against central differences over whole re-runs, for every rule.
  auto t = toy192();
  const std::vector<double> g = grid("polynomial", 6);
  const at::Tensor probe = at::randn_like(t.x_T);
  for (const auto& c : rule_cases()) {
    BOOST_TEST_CONTEXT(label(c)) {
      auto solver = build(c);
      auto last_step = [&](const at::Tensor& from, const at::Tensor& to) {
        std::unique_ptr<StepRun> run = solver->step_run(6);
        at::Tensor x = t.x_T.clone();
        for (int i = 0; i < 4; ++i) {
          at::Tensor f = at::full({4}, g[size_t(i)], x.options());
          x = run->step(x, t.model->denoise(x, f), f, at::full({4}, g[size_t(i + 1)], x.options()));
        }
        at::Tensor den = t.model->denoise(x, at::full({4}, g[4], x.options()));
        return (run->step(x, den, from, to) * probe).sum();
      };
      at::Tensor from = at::full({4}, g[4], at::kDouble).requires_grad_(), to = at::full({4}, g[5], at::kDouble);
      to.requires_grad_();
      last_step(from, to).backward();
      const double h = 1e-6;
      auto at_value = [&](double df, double dt) {
        at::NoGradGuard no_grad;
        return last_step(at::full({4}, g[4] + df, at::kDouble), at::full({4}, g[5] + dt, at::kDouble)).item<double>();
      };
      const double dfrom = (at_value(h, 0) - at_value(-h, 0)) / (2 * h),
                   dto = (at_value(0, h) - at_value(0, -h)) / (2 * h);
      BOOST_TEST(from.grad().sum().item<double>() == dfrom, boost::test_tools::tolerance(1e-5));
      BOOST_TEST(to.grad().sum().item<double>() == dto, boost::test_tools::tolerance(1e-5));
    }
  }
}

BOOST_AUTO_TEST_CASE(deis_weights_are_differentiable_in_every_sigma) {
  // The step form's per-sample weights carry gradients (AMED trains through the intermediate σ): autograd
  // against central differences, both quadratures, order 3.
  for (DeisQuadrature q : {DeisQuadrature::Riemann, DeisQuadrature::GaussLegendre}) {
    std::vector<at::Tensor> sigma = {at::full({1}, 2.0, at::kDouble).requires_grad_(), at::full({1}, 5.0, at::kDouble),
                                     at::full({1}, 11.0, at::kDouble)};
    at::Tensor to = at::full({1}, 0.9, at::kDouble).requires_grad_();
    auto total = [&](const std::vector<at::Tensor>& s, const at::Tensor& t) {
      at::Tensor sum = at::zeros({1}, at::kDouble);
      const std::vector<at::Tensor> c = deis_weights(s, t, 3, q);
      for (size_t j = 0; j < c.size(); ++j) sum = sum + double(j + 1) * c[j];
      return sum;
    };
    total(sigma, to).backward();
    const double h = 1e-6;
    auto at_value = [&](double s0, double t) {
      at::NoGradGuard no_grad;
      return total({at::full({1}, s0, at::kDouble), sigma[1], sigma[2]}, at::full({1}, t, at::kDouble)).item<double>();
    };
    const double ds0 = (at_value(2.0 + h, 0.9) - at_value(2.0 - h, 0.9)) / (2 * h);
    const double dto = (at_value(2.0, 0.9 + h) - at_value(2.0, 0.9 - h)) / (2 * h);
    BOOST_TEST(sigma[0].grad().item<double>() == ds0, boost::test_tools::tolerance(1e-6));
    BOOST_TEST(to.grad().item<double>() == dto, boost::test_tools::tolerance(1e-6));
  }
}

BOOST_AUTO_TEST_CASE(order_rule_is_shared) {
  // diff-sampler's rule, checked against a direct transcription on every small case.
  for (int p = 1; p <= 4; ++p)
    for (int n = 2; n <= 9; ++n)
      for (int k = 1; k < n; ++k) {
        const int with = k < p ? k : std::min(p, n - k), without = std::min(p, k);
        BOOST_TEST(multistep_order(k, n, p, true) == with);
        BOOST_TEST(multistep_order(k, n, p, false) == without);
      }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
