// TEMPORARY scratch (helper B) — will be deleted.
#include <boost/test/unit_test.hpp>
#include <iostream>
#include "cases.h"
#include "diffusion/schedule.h"
#include "support/check.h"
#include "support/testbeds.h"
namespace dsx::test {
BOOST_AUTO_TEST_CASE(zz_scratch_b, *boost::unit_test::disabled()) {
  at::Tensor means = at::tensor({-1.0, 0.5, 2.0, 1.5, -0.7, 0.3, 0.2, 1.8, -1.2}, at::kDouble).reshape({3, 3});
  GaussianMixture gmm(means, at::tensor({0.5, 0.3, 0.4}, at::kDouble), at::tensor({0.3, 0.5, 0.2}, at::kDouble));
  gmm.set_reference_rtol(1e-13);
  auto g = gauss3();
  const at::Tensor x_gmm = at::tensor({80.0, -40.0, 20.0, -60.0, 10.0, 70.0}, at::kDouble).reshape({2, 3});
  at::Tensor gexact;
  for (std::vector<int> Ns : std::vector<std::vector<int>>{{41, 81, 161, 321}, {81, 161, 321, 641}}) {
  struct C { std::string name; std::map<std::string,std::string> o; };
  std::vector<C> cs = {
    {"ipndm_v", {{"max_order","3"}}}, {"scire", {{"method","singlestep_agile"}}}, {"scire", {{"algorithm","v2"},{"method","singlestep_fixed"},{"order","3"}}},
    {"ipndm_v", {{"variant","corrected"}}}, {"ipndm_v", {{"variant","corrected"},{"max_order","3"}}},
    {"ipndm_v", {{"variant","corrected"},{"max_order","2"}}},
    {"scire", {}}, {"scire", {{"order","3"}}}, {"scire", {{"algorithm","v2"}}}, {"scire", {{"algorithm","v2"},{"order","3"}}},
    {"scire", {{"method","singlestep_fixed"}}}, {"scire", {{"method","singlestep_fixed"},{"order","3"}}},
    {"scire", {{"method","singlestep_agile"},{"order","3"}}},
    {"scire", {{"algorithm","v2"},{"method","singlestep_fixed"}}},
    {"scire", {{"phi","one"}}}, {"scire", {{"phi","one"},{"order","3"}}},
    {"scire", {{"phi","one"},{"algorithm","v2"}}}, {"scire", {{"phi","one"},{"algorithm","v2"},{"order","3"}}},
    {"scire", {{"phi","one"},{"method","singlestep_fixed"}}}, {"scire", {{"phi","one"},{"method","singlestep_fixed"},{"order","3"}}},
    {"scire", {{"phi","one"},{"algorithm","v2"},{"method","singlestep_fixed"}}},
    {"scire", {{"phi","one"},{"algorithm","v2"},{"method","singlestep_fixed"},{"order","3"}}},
  };
  gexact = at::Tensor();
  for (std::string sched : {"polynomial", "logsnr"})
  for (std::string tb : {"gauss3", "gmm"})
  for (auto& c : cs) {
    std::vector<double> ns, errs;
    for (int n : Ns) {
      ScheduleSpec spec; spec.kind = sched; spec.num_steps = n;
      auto sg = make_schedule(spec);
      double err;
      if (tb == "gauss3") {
        RunResult r = run_solver(c.name, c.o, *g.model, g.x_T, sg);
        err = rmse(r.x, g.model->ode_solution(g.x_T, sg.front(), sg.back()));
      } else {
        if (!gexact.defined()) gexact = gmm.ode_solution(x_gmm, sg.front(), sg.back());
        RunResult r = run_solver(c.name, c.o, gmm, x_gmm, sg);
        err = rmse(r.x, gexact);
      }
      ns.push_back(n - 1); errs.push_back(err);
    }
    std::string os; for (auto& [k,v] : c.o) os += k + "=" + v + " ";
    std::cout << Ns[0] << " " << sched << " " << tb << " " << c.name << " " << os << " slope=" << convergence_order(ns, errs);
    std::cout << " pairwise:";
    for (size_t i = 0; i + 1 < errs.size(); ++i) std::cout << " " << std::log(errs[i]/errs[i+1])/std::log(2.0);
    std::cout << "  err " << errs.front() << ".." << errs.back() << "\n";
  }
  }
}
}
