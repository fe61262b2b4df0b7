// TEMPORARY scratch (helper B) — will be deleted.
#include <boost/test/unit_test.hpp>
#include <iostream>
#include "cases.h"
#include "diffusion/schedule.h"
#include "support/check.h"
#include "support/testbeds.h"
namespace dsx::test {
namespace {
std::vector<double> f32(std::vector<double> v) { for (auto& x : v) x = double(float(x)); return v; }
}
BOOST_AUTO_TEST_CASE(zz_scratch_b, *boost::unit_test::disabled()) {
  auto run = [](const char* name, std::map<std::string,std::string> o, std::vector<double> sg, at::ScalarType dt) {
    auto t = toy192();
    t.model->to(dt, at::kCPU);
    RunResult r = run_solver(name, o, *t.model, t.x_T.to(dt), sg);
    at::Tensor exact = t.model->ode_solution(t.x_T, sg.front(), sg.back());
    std::cout.precision(9);
    std::cout << name << " " << (dt == at::kFloat ? "f32" : "f64") << " rmse " << rmse(r.x, exact) << " x " << r.x.flatten().slice(0,0,4) << "\n";
  };
  for (auto dt : {at::kFloat, at::kDouble}) {
    run("ipndm", {}, f32(karras_grid(4)), dt);
    run("ipndm", {}, time_uniform_float32(6, 1), dt);
    run("ipndm", {}, f32(karras_grid(6)), dt);
    run("ipndm", {}, f32(logsnr_grid(6)), dt);
    run("ipndm", {}, f32(karras_grid(10)), dt);
  }
}
}
