#pragma once
// evaluate's `fd` section: the Fréchet distance of each item's samples, through an image feature extractor
// (dsx's classifier, a user's Inception or TorchScript, or pixels), to a reference image set — the FID of
// a table like the AMED paper's, with the value real data gets at the same sample size as its floor.
//
//   fd:
//     features: {kind: classifier, file: ../models/fashion_mnist_classifier.h5}
//     reference: fashion_mnist:train     # what `dsx fid` accepts: dataset, samples .h5, PNG folder, stats .npz
//     floor: fashion_mnist:test          # optional: scored like the samples, as many images as seeds
//
// The reference's statistics (mu, sigma) are computed once per (reference contents, extractor) and cached
// as an .npz artifact that EDM's fid.py and pytorch-fid read; an .npz reference is used as it is.
#include <optional>
#include <string>

#include "metrics/image_distance.h"
#include "pipeline/spec.h"
#include "store/cache.h"

namespace dsx {

struct FdSpec {
  std::string features_kind, features_file;
  ImageOperand reference;
  std::optional<ImageOperand> floor;
  int64_t batch = 250;
  std::string features_fingerprint, reference_fingerprint;  // contents, not paths: what keys depend on
  json key() const;
};

const Schema& fd_schema();           // dsx run --explain evaluate.fd
const Schema& fd_features_schema();  // dsx run --explain evaluate.fd.features
// Reads the section at `r.node(key)`; `channels` are the model's image channels (folders are read so).
FdSpec read_fd(MapReader& r, const std::string& key, const YamlSource& src, const std::vector<int64_t>& sample_shape);

// An image operand at `r[key]`: dataset names as they are, files and folders relative to the spec; errors
// carry the key's file:line:col.
ImageOperand read_image_operand(MapReader& r, const std::string& key, const YamlSource& src);

// The reference's Gaussian fit of `features`: read from an .npz reference, else from the cache (computed
// and stored as reference_stats.npz on a miss; concurrent stages compute it once).
GaussianFit cached_reference_stats(const cache::Cache& cache, const FdSpec& fd, const ImageFeatures& features,
                                   int64_t channels, const ProgressLine::Log& log);

// The Gaussian fit of images [N, C, H, W] in [−1, 1] through `features`, `batch` images at a time.
GaussianFit image_feature_fit(const at::Tensor& images, const ImageFeatures& features, int64_t batch);

}  // namespace dsx
