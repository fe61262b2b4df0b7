#include "support/check.h"

#include <cmath>

#include <boost/test/unit_test.hpp>

namespace dsx::test {

void check_close(const at::Tensor& actual, const at::Tensor& expected, double rtol, double atol,
                 const std::string& what) {
  at::Tensor a = actual.to(at::kDouble).cpu().flatten(), e = expected.to(at::kDouble).cpu().flatten();
  BOOST_REQUIRE_MESSAGE(a.numel() == e.numel(), what << ": " << a.numel() << " values, expected " << e.numel());
  at::Tensor excess = (a - e).abs() - (atol + rtol * e.abs());
  int64_t worst = excess.argmax().item<int64_t>();
  bool ok = excess.max().item<double>() <= 0 && at::isfinite(a).all().item<bool>();
  BOOST_CHECK_MESSAGE(ok, what << ": element " << worst << " is " << a[worst].item<double>() << ", expected "
                               << e[worst].item<double>() << " (|diff| " << std::abs((a - e)[worst].item<double>())
                               << ", rtol " << rtol << ", atol " << atol << ")");
}

void check_close(const at::Tensor& actual, const std::vector<double>& expected, double rtol, double atol,
                 const std::string& what) {
  check_close(actual.flatten().slice(0, 0, int64_t(expected.size())), at::tensor(expected, at::kDouble), rtol, atol,
              what);
}

double rmse(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble).cpu() - b.to(at::kDouble).cpu()).square().mean().sqrt().item<double>();
}

double convergence_order(const std::vector<double>& n, const std::vector<double>& err) {
  double mx = 0, my = 0;
  for (size_t i = 0; i < n.size(); ++i) mx += std::log(n[i]), my += std::log(err[i]);
  mx /= n.size(), my /= n.size();
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < n.size(); ++i) {
    double dx = std::log(n[i]) - mx;
    sxy += dx * (std::log(err[i]) - my), sxx += dx * dx;
  }
  return -sxy / sxx;
}

}  // namespace dsx::test
