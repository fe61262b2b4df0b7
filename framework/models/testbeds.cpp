#include "models/testbeds.h"

#include <cmath>

namespace dsx::testbeds {

std::shared_ptr<DiagonalGaussian> amed_toy(double sigma_min, double sigma_max) {
  at::Tensor mu = at::empty({192}, at::kDouble), s = at::empty({192}, at::kDouble);
  for (int k = 0; k < 192; ++k) {
    mu[k] = 0.5 * std::sin(0.37 * k);
    s[k] = 0.05 + 0.45 * (0.5 + 0.5 * std::cos(0.91 * k));
  }
  return std::make_shared<DiagonalGaussian>(mu.reshape({3, 8, 8}), s.reshape({3, 8, 8}), sigma_min, sigma_max);
}

std::shared_ptr<GaussianMixture> curved_mixture3() {
  at::Tensor means = at::tensor({-1.0, 0.5, 2.0, 1.5, -0.7, 0.3, 0.2, 1.8, -1.2}, at::kDouble).reshape({3, 3});
  return std::make_shared<GaussianMixture>(means, at::tensor({0.5, 0.3, 0.4}, at::kDouble),
                                           at::tensor({0.3, 0.5, 0.2}, at::kDouble));
}

}  // namespace dsx::testbeds
