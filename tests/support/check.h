#pragma once
// Tensor comparisons that report where and by how much they fail.
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace dsx::test {

// |a − b| ≤ atol + rtol·|b| elementwise; on failure a Boost error with max error and its index.
void check_close(const at::Tensor& actual, const at::Tensor& expected, double rtol, double atol,
                 const std::string& what);
void check_close(const at::Tensor& actual, const std::vector<double>& expected, double rtol, double atol,
                 const std::string& what);
double rmse(const at::Tensor& a, const at::Tensor& b);
// Least-squares slope of log(err) against log(n): the measured convergence order when n doubles.
double convergence_order(const std::vector<double>& n, const std::vector<double>& err);

}  // namespace dsx::test
