#pragma once
// Image datasets for training, metrics and the empirical testbed: N images [C, H, W] scaled to [−1, 1] in a
// fixed order (index i is always the same image), with labels when the source has them. Sources are a
// registry of kinds, each declaring its keys (dsx run --explain dataset.KIND):
//
//   fashion_mnist  Debian's dataset-fashion-mnist (gzipped IDX), train 60 000 / test 10 000, padded to 32×32
//   hdf5           a user's [N, C, H, W] dataset (uint8 0..255 or floats), optional labels dataset
//   image_folder   the PNG files of a folder in name order (grey or RGB), all of one size
//
// Everything is read into memory (Fashion-MNIST at 32×32 is 245 MB in float32): the datasets dsx trains
// on offline are small, and every consumer wants random access by index.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/options.h"

namespace dsx {

struct ImageSet {
  at::Tensor images;        // [N, C, H, W] float32 in [−1, 1]
  at::Tensor labels;        // [N] int64, undefined when the source has none
  std::string fingerprint;  // hash of the images' bytes (and labels): part of cache keys
  std::string description;  // "fashion_mnist train: 60000 × [1, 32, 32]"
  int64_t size() const { return images.size(0); }
  std::vector<int64_t> sample_shape() const { return {images.size(1), images.size(2), images.size(3)}; }
};

struct DatasetKind {
  std::string name;
  std::string description;
  std::vector<OptionSpec> options;  // besides `kind` and `limit`; Path options arrive resolved
  std::function<ImageSet(const Options&)> load;
};

const std::vector<DatasetKind>& dataset_kinds();
// `limit`: keep the first N images (0: all). Errors name the source (file, folder, Debian package).
ImageSet load_images(const DatasetKind& kind, const Options& options, int64_t limit = 0);

// Debian's location of the Fashion-MNIST files (package dataset-fashion-mnist).
constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

}  // namespace dsx
