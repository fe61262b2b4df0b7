// TEMPORARY scratch (to be deleted): runs only dpmpp/unipc/deis cases.
#include <boost/test/unit_test.hpp>
#include <iostream>
#include <set>
#include "cases.h"
#include "diffusion/schedule.h"
#include "support/check.h"
#include "support/testbeds.h"
namespace dsx::test {
static const std::set<std::string> kMine = {"dpmpp", "unipc", "deis"};
BOOST_AUTO_TEST_SUITE(mine)
BOOST_AUTO_TEST_CASE(golden_mine) {
  for (const auto& c : golden_cases()) {
    if (!kMine.count(c.solver)) continue;
    std::unique_ptr<DiagonalGaussian> model; at::Tensor x_T;
    if (c.testbed == "gauss3") { auto g = gauss3(); model = std::move(g.model), x_T = g.x_T; }
    else { auto t = toy192(); model = std::move(t.model), x_T = t.x_T; }
    model->to(c.dtype, at::kCPU);
    RunResult r = run_solver(c.solver, c.options, *model, x_T.to(c.dtype), c.sigmas);
    at::Tensor flat = r.x.to(at::kDouble).flatten();
    double maxrel = 0;
    for (size_t i = 0; i < c.expected.size(); ++i) {
      double a = flat[i].item<double>(); maxrel = std::max(maxrel, std::abs(a - c.expected[i]) / std::abs(c.expected[i]));
    }
    double e = -1;
    if (c.expected_rmse >= 0) { at::Tensor exact = model->ode_solution(x_T, c.sigmas.front(), c.sigmas.back()); e = rmse(r.x, exact); }
    double e64 = -1;
    if (c.expected_rmse >= 0 && c.testbed == "toy192") { auto t2 = toy192(); RunResult r2 = run_solver(c.solver, c.options, *t2.model, t2.x_T, c.sigmas); e64 = rmse(r2.x, t2.model->ode_solution(t2.x_T, c.sigmas.front(), c.sigmas.back())); std::printf("   f64 rel %.2e  ", std::abs(e64 - c.expected_rmse)/c.expected_rmse); }
    std::printf("%-55s nfe %ld/%ld  maxrel %.3e  rmse %.7e vs %.7e (rel %.2e)  x0=%.9f\n", c.id.c_str(), (long)r.nfe, (long)c.nfe, maxrel, e, c.expected_rmse,
                c.expected_rmse > 0 ? std::abs(e - c.expected_rmse) / c.expected_rmse : 0.0, flat[0].item<double>());
  }
}
BOOST_AUTO_TEST_CASE(order_mine) {
  at::Tensor means = at::tensor({-1.0, 0.5, 2.0, 1.5, -0.7, 0.3, 0.2, 1.8, -1.2}, at::kDouble).reshape({3, 3});
  GaussianMixture gmm(means, at::tensor({0.5, 0.3, 0.4}, at::kDouble), at::tensor({0.3, 0.5, 0.2}, at::kDouble));
  auto g = gauss3();
  const at::Tensor x_gmm = at::tensor({80.0, -40.0, 20.0, -60.0, 10.0, 70.0}, at::kDouble).reshape({2, 3});
  at::Tensor gex;
  for (const auto& c : order_cases()) {
    if (!kMine.count(c.solver)) continue;
    std::vector<double> ns, errs;
    std::vector<int> steps = c.num_steps;
    if (getenv("NS")) { steps.clear(); std::string v = getenv("NS"); size_t p0 = 0; while (p0 < v.size()) { size_t q = v.find(',', p0); if (q == std::string::npos) q = v.size(); steps.push_back(std::stoi(v.substr(p0, q - p0))); p0 = q + 1; } }
    for (int n : steps) {
      ScheduleSpec spec; spec.kind = c.schedule; spec.num_steps = n;
      auto sig = make_schedule(spec); double err;
      if (c.testbed == "gauss3") { RunResult r = run_solver(c.solver, c.options, *g.model, g.x_T, sig); err = rmse(r.x, g.model->ode_solution(g.x_T, sig.front(), sig.back())); }
      else { if (!gex.defined()) gex = gmm.ode_solution(x_gmm, sig.front(), sig.back()); RunResult r = run_solver(c.solver, c.options, gmm, x_gmm, sig); err = rmse(r.x, gex); }
      ns.push_back(n - 1); errs.push_back(err);
    }
    std::printf("%-62s order %.3f (exp %.1f) errs:", c.id.c_str(), convergence_order(ns, errs), c.order);
    for (size_t i = 0; i < errs.size(); ++i) std::printf(" %.3e", errs[i]);
    for (size_t i = 1; i < errs.size(); ++i) std::printf(" [%.2f]", std::log2(errs[i-1]/errs[i]));
    std::printf("\n");
  }
}
BOOST_AUTO_TEST_SUITE_END()
}
namespace dsx::test { namespace {
DSX_REGISTER_CASES(std::vector<OrderCase>{
    {"X DEIS4 exact gauss poly", "deis", {{"max_order", "4"}, {"quadrature", "exact"}}, "gauss3", "polynomial", {21, 41, 81, 161}, 4.0},
    {"X DEIS4 exact gmm poly", "deis", {{"max_order", "4"}, {"quadrature", "exact"}}, "gmm", "polynomial", {21, 41, 81, 161}, 4.0},
    {"X DEIS4 exact gauss logsnr", "deis", {{"max_order", "4"}, {"quadrature", "exact"}}, "gauss3", "logsnr", {21, 41, 81, 161}, 4.0},
    {"X DEIS3 exact gauss poly", "deis", {{"max_order", "3"}, {"quadrature", "exact"}}, "gauss3", "polynomial", {21, 41, 81, 161}, 3.0},
    {"X DEIS2 exact gauss poly", "deis", {{"max_order", "2"}, {"quadrature", "exact"}}, "gauss3", "polynomial", {21, 41, 81, 161}, 3.0},
    {"X DEIS3 faithful gmm logsnr", "deis", {{"max_order", "3"}}, "gmm", "logsnr", {21, 41, 81, 161}, 3.0},
    {"X DEIS4 faithful gauss poly", "deis", {{"max_order", "4"}}, "gauss3", "polynomial", {21, 41, 81, 161}, 3.0},
    {"X UniPC3 bh1 noise gmm logsnr", "unipc", {{"max_order", "3"}, {"lower_order_final", "false"}, {"variant", "bh1"}, {"predict_x0", "false"}}, "gmm", "logsnr", {21, 41, 81, 161}, 4.0},
    {"X UniPC3 bh2 gauss poly", "unipc", {{"max_order", "3"}, {"lower_order_final", "false"}}, "gauss3", "polynomial", {21, 41, 81, 161}, 4.0},
    {"X UniPC2 bh1 gmm poly", "unipc", {{"max_order", "2"}, {"lower_order_final", "false"}, {"variant", "bh1"}}, "gmm", "polynomial", {21, 41, 81, 161}, 4.0},
    {"X UniPC3 LOF gmm logsnr", "unipc", {{"max_order", "3"}}, "gmm", "logsnr", {21, 41, 81, 161}, 4.0},
    {"X DPM3M noise faithful gmm logsnr", "dpmpp", {{"max_order", "3"}, {"lower_order_final", "false"}, {"predict_x0", "false"}}, "gmm", "logsnr", {21, 41, 81, 161}, 2.0},
    {"X DPM3M noise corrected gmm logsnr", "dpmpp", {{"max_order", "3"}, {"lower_order_final", "false"}, {"predict_x0", "false"}, {"variant", "corrected"}}, "gmm", "logsnr", {21, 41, 81, 161}, 3.0},
});
}}
