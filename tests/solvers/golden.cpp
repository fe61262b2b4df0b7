// Every registered golden case as its own test case (golden/<test_id>): output values, RMSE to the exact
// solution and NFE.
#include <boost/test/unit_test.hpp>

#include "cases.h"
#include "row_tests.h"
#include "support/check.h"
#include "support/testbeds.h"

namespace dsx::test {

namespace {
void run_golden(const GoldenCase& c) {
  BOOST_TEST_CONTEXT(c.id << " [" << c.solver << "]") {
    std::shared_ptr<DiagonalGaussian> model;
    at::Tensor x_T;
    if (c.testbed == "gauss3") {
      auto g = gauss3();
      model = std::move(g.model), x_T = g.x_T;
    } else {
      BOOST_REQUIRE_EQUAL(c.testbed, "toy192");
      auto t = toy192();
      model = std::move(t.model), x_T = t.x_T;
    }
    model->to(c.dtype, at::kCPU);
    RunResult r = run_solver(c.solver, c.options, *model, x_T.to(c.dtype), c.sigmas);
    BOOST_CHECK_EQUAL(r.nfe, r.expected_nfe);
    if (c.nfe >= 0) BOOST_CHECK_EQUAL(r.nfe, c.nfe);
    if (!c.expected.empty()) check_close(r.x, c.expected, c.rtol, c.atol, c.id);
    if (c.expected_rmse >= 0) {
      at::Tensor exact = model->ode_solution(x_T, c.sigmas.front(), c.sigmas.back());
      double e = rmse(r.x, exact);
      BOOST_CHECK_MESSAGE(std::abs(e - c.expected_rmse) <= std::max(1e-5, c.rtol) * c.expected_rmse + 1e-7,
                          c.id << ": rmse " << e << ", official " << c.expected_rmse);
    }
  }
}
}  // namespace

BOOST_AUTO_TEST_SUITE(golden)

BOOST_AUTO_TEST_CASE(rows_registered) { BOOST_TEST(!golden_cases().empty()); }

static const auto golden_rows = row_tests(golden_cases, run_golden, __FILE__, __LINE__);

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx::test
