#include "metrics/feature_stats.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "data/npz.h"

namespace dsx {
namespace {

at::Tensor feature_matrix(const at::Tensor& features, const char* who) {
  if (!features.defined() || features.dim() != 2)
    fail("{}: features must be a [B, F] matrix, got {} dimension(s)", who, features.defined() ? features.dim() : 0);
  return features.detach().to(at::kCPU);
}

}  // namespace

void MomentAccumulator::update(const at::Tensor& features) {
  const at::Tensor x = feature_matrix(features, "moments").to(at::kDouble);
  if (x.size(0) == 0) return;
  MomentAccumulator batch;
  batch.n_ = x.size(0);
  batch.mean_ = x.mean(0);
  const at::Tensor c = x - batch.mean_;
  batch.scatter_ = at::matmul(c.t(), c);
  merge(batch);
}

void MomentAccumulator::merge(const MomentAccumulator& o) {
  if (o.n_ == 0) return;
  if (n_ == 0) {
    *this = o;
    return;
  }
  if (o.dim() != dim()) fail("moments: feature dimensions differ ({} vs {})", dim(), o.dim());
  const double na = double(n_), nb = double(o.n_), n = na + nb;
  const at::Tensor delta = o.mean_ - mean_;
  mean_ = mean_ + delta * (nb / n);
  scatter_ = scatter_ + o.scatter_ + at::outer(delta, delta) * (na * nb / n);
  n_ += o.n_;
}

GaussianFit MomentAccumulator::fit() const {
  if (n_ < 2) fail("moments: a covariance needs at least 2 samples, got {}", n_);
  return {mean_, scatter_ / double(n_ - 1)};
}

void FeatureBank::update(const at::Tensor& features) {
  const at::Tensor x = feature_matrix(features, "features").to(at::kFloat).contiguous();
  if (n_ > 0 && x.size(1) != parts_.front().size(1))
    fail("features: dimensions differ ({} vs {})", parts_.front().size(1), x.size(1));
  n_ += x.size(0);
  parts_.push_back(x);
}

void FeatureBank::merge(const FeatureBank& o) {
  for (const at::Tensor& p : o.parts_) update(p);
}

at::Tensor FeatureBank::all() const {
  if (parts_.empty()) fail("features: none collected");
  return parts_.size() == 1 ? parts_.front() : at::cat(parts_, 0);
}

GaussianFit read_reference_stats(const std::string& path) {
  const std::map<std::string, at::Tensor> a = read_npz(path);
  auto get = [&](const char* key, int64_t dims) {
    auto it = a.find(key);
    if (it == a.end()) {
      std::string have;
      for (const auto& [k, v] : a) have += (have.empty() ? "" : ", ") + k;
      fail("{}: reference statistics need arrays 'mu' and 'sigma'; '{}' is missing (the file has: {})", path, key,
           have.empty() ? "nothing" : have);
    }
    if (it->second.dim() != dims) fail("{}: '{}' must have {} dimension(s), has {}", path, key, dims, it->second.dim());
    return it->second.to(at::kDouble);
  };
  GaussianFit f{get("mu", 1), get("sigma", 2)};
  if (f.cov.size(0) != f.mean.size(0) || f.cov.size(1) != f.mean.size(0))
    fail("{}: 'sigma' is {}x{} but 'mu' has {} entries", path, f.cov.size(0), f.cov.size(1), f.mean.size(0));
  return f;
}

void write_reference_stats(const std::string& path, const GaussianFit& fit) {
  write_npz(path, {{"mu", fit.mean.to(at::kDouble)}, {"sigma", fit.cov.to(at::kDouble)}});
}

}  // namespace dsx
