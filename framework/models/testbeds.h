#pragma once
// The named analytic testbeds, defined once: the model kinds of specs, the CLI (`dsx solvers --measure`)
// and the tests all build them from here.
#include <memory>

#include "models/diagonal_gaussian.h"
#include "models/gaussian_mixture.h"

namespace dsx::testbeds {

// The analytic toy on which the official AMED golden values were produced (docs/amed.md §12.1): data
// N(μ, diag s²) on 3×8×8 with μ_k = 0.5 sin(0.37k), s_k = 0.05 + 0.45(0.5 + 0.5 cos(0.91k)), k = 0..191.
std::shared_ptr<DiagonalGaussian> amed_toy(double sigma_min = 0.002, double sigma_max = 80.0);

// A 3-component, 3-dimensional isotropic mixture with curved trajectories (no Gaussian superconvergence):
// means rows (−1, 0.5, 2), (1.5, −0.7, 0.3), (0.2, 1.8, −1.2), stds (0.5, 0.3, 0.4), weights (0.3, 0.5, 0.2).
// Where global orders are measured.
std::shared_ptr<GaussianMixture> curved_mixture3();

}  // namespace dsx::testbeds
