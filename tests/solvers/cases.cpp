#include "cases.h"

#include "diffusion/schedule.h"

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
}  // namespace

std::vector<double> karras_grid(int n, double rho) { return grid("polynomial", n, rho, 3.1); }
std::vector<double> logsnr_grid(int n) { return grid("logsnr", n, 7, 3.1); }
std::vector<double> nsr_grid(int n, double k) { return grid("nsr", n, 7, k); }

}  // namespace dsx::test
