// Measured global order of every registered order case as its own test case (order/<test_id>): float64,
// error at σ_min vs the exact solution.
#include <boost/test/unit_test.hpp>

#include "cases.h"
#include "diffusion/schedule.h"
#include "row_tests.h"
#include "support/check.h"
#include "support/testbeds.h"

namespace dsx::test {

namespace {
// A 3-component, 3-dimensional isotropic mixture: curved trajectories (no Gaussian superconvergence).
std::unique_ptr<GaussianMixture> gmm3() {
  at::Tensor means = at::tensor({-1.0, 0.5, 2.0, 1.5, -0.7, 0.3, 0.2, 1.8, -1.2}, at::kDouble).reshape({3, 3});
  return std::make_unique<GaussianMixture>(means, at::tensor({0.5, 0.3, 0.4}, at::kDouble),
                                           at::tensor({0.3, 0.5, 0.2}, at::kDouble));
}

// The testbeds, shared by the rows and built once; exact mixture solutions are keyed by σ_max.
struct OrderTestbeds {
  decltype(gmm3()) gmm = gmm3();
  Gauss3 g = gauss3();
  const at::Tensor x_gmm = at::tensor({80.0, -40.0, 20.0, -60.0, 10.0, 70.0}, at::kDouble).reshape({2, 3});
  std::map<double, at::Tensor> gmm_exact;  // the mixture's own reference (rkf78 per row at 1e-14)
};

OrderTestbeds& testbeds() {
  static OrderTestbeds* beds = new OrderTestbeds;  // never destroyed: no tensors torn down at exit
  return *beds;
}

void run_order(const OrderCase& c) {
  OrderTestbeds& t = testbeds();
  auto& gmm = t.gmm;
  auto& g = t.g;
  const at::Tensor& x_gmm = t.x_gmm;
  std::map<double, at::Tensor>& gmm_exact = t.gmm_exact;
  BOOST_TEST_CONTEXT(c.id << " [" << c.solver << "]") {
    std::vector<double> ns, errs;
    for (int n : c.num_steps) {
      ScheduleSpec spec;
      spec.kind = c.schedule;
      spec.num_steps = n;
      std::vector<double> sigmas = make_schedule(spec);
      double err;
      if (c.testbed == "gauss3") {
        RunResult r = run_solver(c.solver, c.options, *g.model, g.x_T, sigmas);
        err = rmse(r.x, g.model->ode_solution(g.x_T, sigmas.front(), sigmas.back()));
      } else {
        auto& exact = gmm_exact[sigmas.front()];
        if (!exact.defined()) exact = gmm->ode_solution(x_gmm, sigmas.front(), sigmas.back());
        RunResult r = run_solver(c.solver, c.options, *gmm, x_gmm, sigmas);
        err = rmse(r.x, exact);
      }
      ns.push_back(n - 1);
      errs.push_back(err);
    }
    double p = convergence_order(ns, errs);
    BOOST_TEST_MESSAGE(c.id << ": measured order " << p);
    BOOST_CHECK_MESSAGE(std::abs(p - c.order) <= c.tolerance, c.id << ": measured order " << p << ", expected "
                                                                   << c.order << " ± " << c.tolerance << " (errors "
                                                                   << errs.front() << " .. " << errs.back() << ")");
  }
}
}  // namespace

BOOST_AUTO_TEST_SUITE(order)

BOOST_AUTO_TEST_CASE(rows_registered) { BOOST_TEST(!order_cases().empty()); }

static const auto order_rows = row_tests(order_cases, run_order, __FILE__, __LINE__);

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
