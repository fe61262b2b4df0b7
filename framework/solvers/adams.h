#pragma once
// The explicit multistep update shared by iPNDM/iPNDM_v and DEIS-tAB: x_{i+1} = x + Σ_k c_k·ε_{i−k}, where
// ε_i = (x − D)/σ_i is folded into the coefficients of x and D, and, when later steps need it, ε_i is
// written over D in the same fused pass and pushed to the front of the history (newest first).
#include <deque>
#include <vector>

#include "solvers/lincomb.h"

namespace dsx {

inline at::Tensor adams_step(at::Tensor& x, at::Tensor& den, double sigma, const std::vector<double>& c,
                             std::deque<at::Tensor>& history, size_t keep, bool push) {
  LinComb next;
  next.add(1.0 + c[0] / sigma, x).add(-c[0] / sigma, den);
  for (size_t k = 1; k < c.size(); ++k) next.add(c[k], history[k - 1]);
  if (!push) return next.eval(&x);
  LinComb eps;
  eps.add(1.0 / sigma, x).add(-1.0 / sigma, den);
  auto [x_next, eps_i] = eval2(next, eps, &x, &den);
  history.push_front(std::move(eps_i));
  while (history.size() > keep) history.pop_back();
  return x_next;
}

}  // namespace dsx
