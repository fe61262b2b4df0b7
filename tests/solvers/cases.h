#pragma once
// Registries of solver test cases, in the spirit of ggml's test-backend-ops: every family file adds rows
// (golden values from the official codes, expected convergence orders); the suites in golden.cpp and
// order.cpp run them all. Rows register at static-initialisation time with DSX_GOLDEN / DSX_ORDER.
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace dsx::test {

// A full sampling run compared with an official output.
struct GoldenCase {
  std::string id;                                // where the number comes from, e.g. "docs/solvers.md §6.4 karras DDIM"
  std::string solver;
  std::map<std::string, std::string> options;
  std::string testbed;                           // "gauss3" (docs/solvers.md §6.4) | "toy192" (docs/amed.md §12.1)
  std::vector<double> sigmas;                    // full grid, σ_max first
  at::ScalarType dtype = at::kDouble;            // gauss3 rows are float64, toy192 rows float32 (official)
  std::vector<double> expected;                  // leading values of the flattened output
  double expected_rmse = -1;                     // vs the exact solution at σ_min (toy192), −1 = not given
  int64_t nfe = -1;                              // official NFE, −1 = not given
  double rtol = 1e-9, atol = 1e-9;
};

// Global order on an exact testbed: errors at σ_min for increasing N, least-squares slope.
struct OrderCase {
  std::string id;
  std::string solver;
  std::map<std::string, std::string> options;
  std::string testbed;                           // "gauss3" | "gmm" (3-component 1-D mixture of §6.2)
  std::string schedule;                          // "logsnr" | "polynomial"
  std::vector<int> num_steps;                    // grid points, e.g. {21, 41, 81, 161}
  double order;                                  // expected (docs/solvers.md §6.3)
  double tolerance = 0.3;
};

std::vector<GoldenCase>& golden_cases();
std::vector<OrderCase>& order_cases();

struct RegisterCases {
  explicit RegisterCases(std::vector<GoldenCase> rows);
  explicit RegisterCases(std::vector<OrderCase> rows);
};

// Grids used by the golden tables.
std::vector<double> karras_grid(int n, double rho = 7.0);  // σ ∈ [0.002, 80]
std::vector<double> logsnr_grid(int n);
std::vector<double> nsr_grid(int n, double k = 3.1);

}  // namespace dsx::test

#define DSX_CASES_CAT2(a, b) a##b
#define DSX_CASES_CAT(a, b) DSX_CASES_CAT2(a, b)
#define DSX_REGISTER_CASES(...) \
  static const ::dsx::test::RegisterCases DSX_CASES_CAT(dsx_cases_, __LINE__)(__VA_ARGS__)
