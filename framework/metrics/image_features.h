#pragma once
// Feature extractors for the image metrics (FD/FID, KID, precision/recall): images [N, C, H, W] in [−1, 1]
// → features [N, F] float32.
//
//   pixels       the flattened image (FD in pixel space)
//   torchscript  a user's module: forward(x float32 [N, C, H, W] in [−1, 1]) → [N, F]
//   inception    a TorchScript with the interface of StyleGAN2-ADA / EDM's `inception-2015-12-05.pt`: dsx
//                hands it the images as EDM's fid.py sees PNGs — uint8 (x·127.5 + 128, clamped to [0, 255],
//                truncated), grey repeated to 3 channels, at their native size (the detector resizes to
//                299×299 itself, with TensorFlow's resampling, so published FIDs stay comparable) — and
//                calls forward(img, return_features=True) → [N, 2048] pool features
//   classifier   dsx's own CNN (nets/classifier.h, the train_classifier stage's classifier.h5): its 256-d
//                penultimate activations, for 1×32×32 images where no Inception weights exist
#include <cstdint>
#include <functional>
#include <string>

#include <ATen/core/Tensor.h>

#include "data/image_grid.h"  // to_uint8_images: the quantisation the inception interface sees

namespace dsx {

struct ImageFeatures {
  std::string name;         // "inception (detector.pt)"
  std::string fingerprint;  // kind and file contents: what cached reference statistics are keyed by
  std::function<at::Tensor(const at::Tensor& images)> extract;  // safe from several threads
};

// kind: pixels | torchscript | inception | classifier; `file` for all but pixels.
ImageFeatures load_image_features(const std::string& kind, const std::string& file = "");
// What load_image_features(kind, file).fingerprint will be, without loading the network (checks the kind).
std::string image_features_fingerprint(const std::string& kind, const std::string& file = "");

}  // namespace dsx
