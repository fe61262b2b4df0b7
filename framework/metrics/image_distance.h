#pragma once
// Two image distributions compared through a feature extractor: what `dsx fid` runs (and the report's image
// metrics). An operand is
//
//   FILE.h5 / FILE.hdf5  a sample file: dataset `samples` [N, C, H, W] in [−1, 1], as `dsx sample` writes it
//   FOLDER               the PNG files of a folder (uint8 → x/127.5 − 1)
//   fashion_mnist[:SPLIT] Debian's Fashion-MNIST, padded to 32×32 (split train | test, default test)
//   FILE.npz             reference statistics (mu, sigma), as EDM's `fid.py ref` and pytorch-fid write them:
//                        FD only
//
// Sample files are read in batches, so memory is bounded by the features kept (KID, precision/recall) or,
// for FD alone, by the F×F moments.
#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "core/progress.h"
#include "metrics/feature_stats.h"
#include "metrics/image_features.h"

namespace dsx {

struct ImageOperand {
  enum class Kind { Samples, Folder, Dataset, Statistics } kind = Kind::Samples;
  std::string path;  // file or folder; for Dataset the split
  std::string text;  // as given
};

// Classifies an operand; errors say what exists and what is accepted.
ImageOperand parse_image_operand(const std::string& text);

struct FeatureSummary {
  GaussianFit fit;       // mean and unbiased covariance of the features
  at::Tensor features;   // [N, F], when kept
  int64_t count = 0;     // images seen (0 for a statistics file)
  int64_t channels = 0;  // of the images (0 for a statistics file)
  std::string description;
};

struct SummaryOptions {
  bool keep_features = false;  // KID and precision/recall need them
  int64_t batch = 250;
  int64_t channels = 3;   // PNG folders are read with this many channels
  ProgressLine::Log log;  // progress lines; none when empty
};

FeatureSummary summarize_operand(const ImageOperand& op, const ImageFeatures& features, const SummaryOptions& o);

// The first `count` images of an operand (all when count is 0) [n, C, H, W] in [−1, 1]; folders are read with
// `channels` channels. A statistics file has no images (an error).
at::Tensor read_operand_images(const ImageOperand& op, int64_t count, int64_t channels = 3);

// A digest of what an operand holds (a dataset's name and split, a file's or a folder's PNGs' contents), so
// statistics cached under it follow the images, not the path.
std::string operand_fingerprint(const ImageOperand& op);

// The number of channels of an operand's images without reading them all (0: not known, e.g. a folder).
int64_t operand_channels(const ImageOperand& op);

}  // namespace dsx
