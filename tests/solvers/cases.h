#pragma once
// Registries of solver test cases, in the spirit of ggml's test-backend-ops: every family file adds rows
// (golden values from the official codes, expected convergence orders); golden.cpp and order.cpp turn each
// row into its own test case, named by test_id() (e.g. golden/euler_gauss3_poly7_N11_f64), so
// `test_solvers --run_test=golden/<id>` runs one row. Rows register at static-initialisation time with
// DSX_REGISTER_CASES.
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace dsx::test {

// A σ grid (σ_max first) with a short name for test ids: karras(11) is "poly7", f32(logsnr(6)) "logsnr".
struct Grid {
  std::string name;
  std::vector<double> sigmas;
};
Grid karras(int n, double rho = 7.0);  // karras_grid: "poly7" (ρ = 7)
Grid logsnr(int n);                    // logsnr_grid: "logsnr"
Grid nsr(int n, double k = 3.1);       // nsr_grid: "nsr" (k = 3.1)
Grid unif32(int n, double rho);        // time_uniform_float32 (diff-sampler's float32 grid): "unif1" (ρ = 1)
Grid f32(Grid g);                      // σ rounded to float32; same name

// A full sampling run compared with an official output.
struct GoldenCase {
  std::string id;  // where the number comes from, e.g. "docs/solvers.md §6.4 karras DDIM"
  std::string solver;
  std::map<std::string, std::string> options;
  std::string testbed;                 // "gauss3" (docs/solvers.md §6.4) | "toy192" (docs/amed.md §12.1)
  std::string grid;                    // Grid::name of sigmas
  std::vector<double> sigmas;          // full grid, σ_max first
  at::ScalarType dtype = at::kDouble;  // gauss3 rows are float64, toy192 rows float32 (official)
  std::vector<double> expected;        // leading values of the flattened output
  double expected_rmse = -1;           // vs the exact solution at σ_min (toy192), −1 = not given
  int64_t nfe = -1;                    // official NFE, −1 = not given
  double rtol = 1e-9, atol = 1e-9;
};

// Builds a GoldenCase field by field, for readable tables:
//   golden_row("docs/solvers.md §6.4 karras DDIM", "euler")
//       .on("gauss3", karras(11), at::kDouble)               // testbed, grid, dtype
//       .expect({0.674972532326, -0.881795505660, 1.016688600854})  // leading output values
//       .rmse(1.48e-01)                                      // official RMSE to the exact solution
//       .nfe(10)                                             // official NFE
//       .tol(1e-10, 1e-11),                                  // rtol, atol
struct GoldenRow {
  GoldenCase c;
  GoldenRow& on(std::string testbed, Grid grid, at::ScalarType dtype);
  GoldenRow& expect(std::vector<double> leading_values);
  GoldenRow& rmse(double official_rmse);
  GoldenRow& nfe(int64_t official_nfe);
  GoldenRow& tol(double rtol, double atol = 1e-9);
  operator GoldenCase() const { return c; }
};
GoldenRow golden_row(std::string id, std::string solver, std::map<std::string, std::string> options = {});

// Global order on an exact testbed: errors at σ_min for increasing N, least-squares slope.
struct OrderCase {
  std::string id;
  std::string solver;
  std::map<std::string, std::string> options;
  std::string testbed;         // "gauss3" | "gmm" (3-component 1-D mixture of §6.2)
  std::string schedule;        // "logsnr" | "polynomial"
  std::vector<int> num_steps;  // grid points, e.g. {21, 41, 81, 161}
  double order;                // expected (docs/solvers.md §6.3)
  double tolerance = 0.3;
};

std::vector<GoldenCase>& golden_cases();
std::vector<OrderCase>& order_cases();

// Boost test-case names of the rows (letters, digits and '_'):
//   golden: solver[_option_value...]_testbed_grid_N<points>_f64|f32, e.g. heun_afs_true_toy192_poly7_N4_f32
//   order:  solver[_option_value...]_testbed_schedule,           e.g. dpm2_r_0_3_gmm_polynomial
std::string test_id(const GoldenCase& c);
std::string test_id(const OrderCase& c);

struct RegisterCases {
  explicit RegisterCases(std::vector<GoldenCase> rows);
  explicit RegisterCases(std::vector<OrderCase> rows);
};

// The same grids without names (property tests).
std::vector<double> karras_grid(int n, double rho = 7.0);  // σ ∈ [0.002, 80]
std::vector<double> logsnr_grid(int n);
std::vector<double> nsr_grid(int n, double k = 3.1);

}  // namespace dsx::test

#define DSX_CASES_CAT2(a, b) a##b
#define DSX_CASES_CAT(a, b) DSX_CASES_CAT2(a, b)
#define DSX_REGISTER_CASES(...) static const ::dsx::test::RegisterCases DSX_CASES_CAT(dsx_cases_, __LINE__)(__VA_ARGS__)
