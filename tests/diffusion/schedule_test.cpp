// Schedules against the golden grids of docs/amed.md §2 and docs/solvers.md §6.4–6.5.
#include <boost/test/unit_test.hpp>

#include <iomanip>

#include "core/error.h"
#include "diffusion/noise_process.h"
#include "diffusion/schedule.h"
#include "support/testbeds.h"

namespace dsx {
namespace {

std::vector<double> grid(const std::string& kind, int n, double rho = 7, const NoiseProcess* p = nullptr,
                         double smin = 0.002, double smax = 80) {
  ScheduleSpec s;
  s.kind = kind;
  s.num_steps = n;
  s.rho = rho;
  s.sigma_min = smin;
  s.sigma_max = smax;
  return make_schedule(s, p);
}

void check_grid(const std::vector<double>& got, const std::vector<double>& want, double rtol, const std::string& what) {
  BOOST_REQUIRE_EQUAL(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    BOOST_CHECK_MESSAGE(std::abs(got[i] - want[i]) <= rtol * std::abs(want[i]),
                        what << "[" << i << "] = " << std::setprecision(12) << got[i] << ", expected " << want[i]);
}

std::string error_of(const ScheduleSpec& s, const NoiseProcess* p = nullptr) {
  try {
    make_schedule(s, p);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(schedules)

BOOST_AUTO_TEST_CASE(amed_section2_grids) {
  // Official values are float32; its pow chain (x^(1/7))^7 amplifies rounding 7×, hence 2e-6 for polynomial.
  check_grid(grid("polynomial", 4), {79.999985, 9.7232008, 0.46997881, 0.0019999996}, 2e-6, "poly7 N=4");
  check_grid(grid("polynomial", 7), {79.999985, 30.183254, 9.7232008, 2.5152194, 0.46997881, 0.051532373, 0.0019999996},
             2e-6, "poly7 N=7");
  check_grid(grid("polynomial", 10),
             {79.999985, 42.415176, 21.108667, 9.7232008, 4.066123, 1.5017415, 0.46997881, 0.11663847, 0.020435337,
              0.0019999996},
             2e-6, "poly7 N=10");
  check_grid(grid("logsnr", 4), {80, 2.3392143, 0.068399027, 0.0019999999}, 3e-7, "logsnr N=4");
  check_grid(grid("logsnr", 7), {80, 13.67981, 2.3392143, 0.39999995, 0.068399027, 0.011696069, 0.0019999999}, 3e-7,
             "logsnr N=7");
  // time_uniform in double precision: the float64 values the note gives (not the float32 end-point quirk).
  check_grid(grid("time_uniform", 4, 1), {80, 6.9502354, 1.2866689, 0.002}, 2e-7, "unif1 N=4 float64");
  // Interior points agree with the float32 official grid to its own (cancellation-limited) accuracy.
  check_grid(grid("time_uniform", 7, 2), {80, 8.6725159, 2.304358, 0.92626798, 0.38432202, 0.10985515, 0.002}, 1e-4,
             "unif2 N=7");
}

BOOST_AUTO_TEST_CASE(float32_replica_reproduces_official_quirk) {
  // The test helper that feeds official float32 grids to golden-value tests must itself match them.
  check_grid(test::time_uniform_float32(7, 1),
             {80, 20.965588, 6.9502778, 2.8237092, 1.2866811, 0.52718061, 0.0020132351}, 2e-6, "unif1 N=7 float32");
  check_grid(test::time_uniform_float32(4, 2), {80, 2.304358, 0.38432202, 0.0020132351}, 2e-6, "unif2 N=4 float32");
}

BOOST_AUTO_TEST_CASE(solvers_section64_grids) {
  check_grid(grid("polynomial", 11),
             {80, 45.31373408, 24.40834179, 12.38157614, 5.838947631, 2.515218976, 0.9654169263, 0.3182832888,
              0.08508720269, 0.01672075323, 0.002},
             1e-9, "karras N=11");
  check_grid(grid("logsnr", 11),
             {80, 27.72579373, 9.608995472, 3.33021283, 1.154159925, 0.4, 0.1386289686, 0.04804497736, 0.01665106415,
              0.005770799624, 0.002},
             1e-9, "logSNR N=11");
  check_grid(grid("nsr", 11),
             {80, 31.92334019, 12.73650665, 5.079265427, 2.023349869, 0.8037696538, 0.3170494308, 0.1228050733,
              0.04528441835, 0.01434683018, 0.002},
             1e-9, "NSR N=11");
}

BOOST_AUTO_TEST_CASE(vp_discrete_logsnr_and_quadratic_time_grids) {
  // docs/solvers.md §6.5: grids in model time t for VP models.
  VpDiscreteProcess ddpm(VpDiscreteProcess::ddpm_linear_betas());
  std::vector<double> s = grid("logsnr", 11, 7, &ddpm, ddpm.sigma_hat(1e-3), ddpm.sigma_hat(1.0));
  std::vector<double> t_want = {1.0,          0.8992939547, 0.7858165116, 0.6535899518, 0.4931143521, 0.3033078469,
                                0.1390402398, 0.0527230040, 0.0178033684, 0.0049524599, 0.001};
  std::vector<double> label_want = {999.0,      898.293955, 784.816512, 652.589952, 492.114352, 302.307847,
                                    138.040240, 51.723004,  16.803368,  3.952460,   0.0};
  for (size_t i = 0; i < s.size(); ++i) {
    double t = ddpm.t_of_sigma_hat(s[i]);
    BOOST_CHECK_MESSAGE(std::abs(t - t_want[i]) <= 1e-9, "logSNR t[" << i << "] = " << t << ", expected " << t_want[i]);
    BOOST_CHECK_MESSAGE(std::abs(ddpm.model_time(t) - label_want[i]) <= 1e-5,
                        "label[" << i << "] = " << ddpm.model_time(t) << ", expected " << label_want[i]);
  }
  VpLinearProcess vp;
  std::vector<double> q = grid("time_quadratic", 11, 7, &vp, vp.sigma_hat(1e-3), vp.sigma_hat(1.0));
  std::vector<double> q_want = {1.0,          0.8157020998, 0.6501592885, 0.5033715662, 0.3753389328, 0.2660613883,
                                0.1755389328, 0.1037715662, 0.0507592885, 0.0165020998, 0.001};
  for (size_t i = 0; i < q.size(); ++i)
    BOOST_CHECK_MESSAGE(std::abs(vp.t_of_sigma_hat(q[i]) - q_want[i]) <= 1e-9,
                        "time_quadratic t[" << i << "] = " << vp.t_of_sigma_hat(q[i]) << ", expected " << q_want[i]);
}

BOOST_AUTO_TEST_CASE(discrete_schedule_is_uniform_in_model_time) {
  VpDiscreteProcess ddpm(VpDiscreteProcess::ddpm_linear_betas());
  std::vector<double> s = grid("discrete", 11, 1, &ddpm, ddpm.sigma_hat(1e-3), ddpm.sigma_hat(1.0));
  for (size_t i = 0; i < s.size(); ++i)
    BOOST_TEST(ddpm.t_of_sigma_hat(s[i]) == 1.0 - 0.0999 * double(i), boost::test_tools::tolerance(1e-9));
  BOOST_CHECK_THROW(grid("discrete", 5), Error);  // needs a VP model
}

BOOST_AUTO_TEST_CASE(teacher_grid_contains_student_points) {
  for (const char* kind : {"polynomial", "logsnr", "time_uniform", "nsr"}) {
    ScheduleSpec s;
    s.kind = kind;
    s.num_steps = 4;
    s.rho = std::string(kind) == "time_uniform" ? 1 : 7;
    std::vector<double> student = make_schedule(s), teacher = make_schedule(refined(s, 2));
    BOOST_REQUIRE_EQUAL(teacher.size(), 10u);
    for (int i = 0; i < 4; ++i) BOOST_TEST(teacher[3 * i] == student[i], boost::test_tools::tolerance(1e-12));
  }
}

BOOST_AUTO_TEST_CASE(bad_specs_are_clear_errors) {
  ScheduleSpec s;
  s.num_steps = 1;
  BOOST_TEST(error_of(s).find("num_steps = 1") != std::string::npos);
  s.num_steps = 5;
  s.sigma_min = 0;
  BOOST_TEST(error_of(s).find("sigma_min") != std::string::npos);
  s.sigma_min = 100;
  BOOST_TEST(error_of(s).find("sigma_max") != std::string::npos);
  s = ScheduleSpec();
  s.kind = "explicit";
  s.sigmas = {80, 10, 10, 0.002};
  BOOST_TEST(error_of(s).find("strictly decreasing") != std::string::npos);
  s.sigmas = {80, 10, -1};
  BOOST_TEST(error_of(s).find("positive") != std::string::npos);
  s.sigmas = {80, 1, 0.002};
  BOOST_TEST(make_schedule(s).size() == 3u);
  s.kind = "karras";
  BOOST_TEST(error_of(s).find("schedule.kind = 'karras' is unknown; known: polynomial") != std::string::npos);
  s.kind = "logsrn";
  BOOST_TEST(error_of(s).find("(did you mean 'logsnr'?)") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace dsx
