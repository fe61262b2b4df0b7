#pragma once
// Streaming state of the distribution metrics (FD, KID, precision/recall): updated batch by batch and merged
// across shards, so 50 000 samples cost the memory of their features (or only their moments), never of
// their images.
//
//   MomentAccumulator  count, mean and centred scatter in float64, merged with Chan et al.'s pairwise
//                      formula: all FD needs, and what a reference-statistics file (.npz mu/sigma) holds
//   FeatureBank        the features themselves in arrival order: KID and precision/recall compare pairs
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "metrics/frechet.h"

namespace dsx {

class MomentAccumulator {
 public:
  void update(const at::Tensor& features);  // [B, F]
  // As if `other`'s batches had followed this one's (equal to one pass over both up to float64 rounding).
  void merge(const MomentAccumulator& other);
  int64_t count() const { return n_; }
  int64_t dim() const { return n_ ? mean_.size(0) : 0; }
  // Mean and unbiased (N − 1) covariance; needs count ≥ 2.
  GaussianFit fit() const;

 private:
  int64_t n_ = 0;
  at::Tensor mean_, scatter_;  // [F], [F, F] float64; scatter = Σ (x − mean)(x − mean)ᵀ
};

class FeatureBank {
 public:
  void update(const at::Tensor& features);  // [B, F], kept as float32 on the CPU
  void merge(const FeatureBank& other);     // appends other's rows after this one's
  int64_t count() const { return n_; }
  at::Tensor all() const;  // [N, F]

 private:
  int64_t n_ = 0;
  std::vector<at::Tensor> parts_;
};

// Reference statistics files in the EDM / pytorch-fid format: an .npz archive with `mu` [F] and `sigma`
// [F, F] (float32 or float64). Errors name the file and the key.
GaussianFit read_reference_stats(const std::string& path);
// Writes mu and sigma as float64 (np.savez layout), atomically.
void write_reference_stats(const std::string& path, const GaussianFit& fit);

}  // namespace dsx
