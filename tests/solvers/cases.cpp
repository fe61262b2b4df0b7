#include "cases.h"

#include <cctype>

#include <fmt/format.h>

#include "diffusion/schedule.h"
#include "support/testbeds.h"

namespace dsx::test {

std::vector<GoldenCase>& golden_cases() {
  static std::vector<GoldenCase> rows;
  return rows;
}

std::vector<OrderCase>& order_cases() {
  static std::vector<OrderCase> rows;
  return rows;
}

RegisterCases::RegisterCases(std::vector<GoldenCase> rows) {
  for (auto& r : rows) golden_cases().push_back(std::move(r));
}

RegisterCases::RegisterCases(std::vector<OrderCase> rows) {
  for (auto& r : rows) order_cases().push_back(std::move(r));
}

namespace {
std::vector<double> grid(const std::string& kind, int n, double rho, double k) {
  ScheduleSpec s;
  s.kind = kind;
  s.num_steps = n;
  s.rho = rho;
  s.k = k;
  return make_schedule(s);
}

// Letters, digits and '_' only: what Boost test names and --run_test filters take without escaping.
std::string identifier(const std::string& text) {
  std::string out = text;
  for (char& ch : out)
    if (!(std::isalnum(static_cast<unsigned char>(ch)) && static_cast<unsigned char>(ch) < 128)) ch = '_';
  return out;
}

std::string solver_and_options(const std::string& solver, const std::map<std::string, std::string>& options) {
  std::string out = solver;
  for (const auto& [key, value] : options) out += "_" + key + "_" + value;
  return out;
}
}  // namespace

std::vector<double> karras_grid(int n, double rho) { return grid("polynomial", n, rho, 3.1); }
std::vector<double> logsnr_grid(int n) { return grid("logsnr", n, 7, 3.1); }
std::vector<double> nsr_grid(int n, double k) { return grid("nsr", n, 7, k); }

Grid karras(int n, double rho) { return {fmt::format("poly{}", rho), karras_grid(n, rho)}; }
Grid logsnr(int n) { return {"logsnr", logsnr_grid(n)}; }
Grid nsr(int n, double k) { return {k == 3.1 ? "nsr" : fmt::format("nsr_k{}", k), nsr_grid(n, k)}; }
Grid unif32(int n, double rho) { return {fmt::format("unif{}", rho), time_uniform_float32(n, rho)}; }
Grid f32(Grid g) { return {g.name, f32(std::move(g.sigmas))}; }

GoldenRow golden_row(std::string id, std::string solver, std::map<std::string, std::string> options) {
  GoldenRow r;
  r.c.id = std::move(id);
  r.c.solver = std::move(solver);
  r.c.options = std::move(options);
  return r;
}

GoldenRow& GoldenRow::on(std::string testbed, Grid grid, at::ScalarType dtype) {
  c.testbed = std::move(testbed);
  c.grid = std::move(grid.name);
  c.sigmas = std::move(grid.sigmas);
  c.dtype = dtype;
  return *this;
}

GoldenRow& GoldenRow::expect(std::vector<double> leading_values) {
  c.expected = std::move(leading_values);
  return *this;
}

GoldenRow& GoldenRow::rmse(double official_rmse) {
  c.expected_rmse = official_rmse;
  return *this;
}

GoldenRow& GoldenRow::nfe(int64_t official_nfe) {
  c.nfe = official_nfe;
  return *this;
}

GoldenRow& GoldenRow::tol(double rtol, double atol) {
  c.rtol = rtol;
  c.atol = atol;
  return *this;
}

std::string test_id(const GoldenCase& c) {
  const std::string dtype = c.dtype == at::kDouble ? "f64" : c.dtype == at::kFloat ? "f32" : at::toString(c.dtype);
  return identifier(fmt::format("{}_{}_{}_N{}_{}", solver_and_options(c.solver, c.options), c.testbed, c.grid,
                                c.sigmas.size(), dtype));
}

std::string test_id(const OrderCase& c) {
  return identifier(fmt::format("{}_{}_{}", solver_and_options(c.solver, c.options), c.testbed, c.schedule));
}

}  // namespace dsx::test
