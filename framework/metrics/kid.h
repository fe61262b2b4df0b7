#pragma once
// Kernel Inception Distance (Bińkowski et al. 2018) as StyleGAN3's metrics/kernel_inception_distance.py
// computes it: the unbiased MMD² with the cubic polynomial kernel k(x, y) = (x·y/F + 1)³ on `subsets` pairs
// of random subsets of m = min(N_gen, N_real, subset_size) rows each (drawn without replacement), averaged.
// dsx draws the subsets from a seeded mt19937_64 (the value is reproducible; StyleGAN's is not), and reports
// the standard deviation over subsets as well.
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace dsx {

struct KidOptions {
  int64_t subsets = 100;  // StyleGAN3 / torch-fidelity default
  int64_t subset_size = 1000;
  uint64_t seed = 0;
};

struct KidValue {
  double mean = 0, std = 0;  // over subsets (population standard deviation)
};

// generated [N, F] and real [M, F] features.
KidValue kernel_inception_distance(const at::Tensor& generated, const at::Tensor& real, const KidOptions& o = {});

// The unbiased MMD² of two equal-size sets [m, F] with that kernel (one subset's value), float64.
double polynomial_mmd2(const at::Tensor& x, const at::Tensor& y);

}  // namespace dsx
