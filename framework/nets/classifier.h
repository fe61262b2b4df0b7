#pragma once
// dsx's own feature network for image metrics where no Inception weights exist: a small CNN classifier of
// 1×32×32 images (Fashion-MNIST), whose 256-d penultimate activations are the features of "FD with the
// classifier" (the role Inception-v3's pool features play in FID).
//
//   x ─ conv 16 ─ pool ─ conv 32 ─ pool ─ conv 64 ─ pool ─ conv 128 ─ pool ─ fc 256 (features) ─ fc classes
//   (each conv 3×3 + BatchNorm + ReLU; 32 → 16 → 8 → 4 → 2 after the pools)
#include <cstdint>
#include <functional>
#include <string>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <nlohmann/json.hpp>

#include "dist/data_parallel.h"

namespace dsx {

struct ClassifierOptions {
  int64_t image_channels = 1, resolution = 32, classes = 10;
  nlohmann::json to_json() const;
  static ClassifierOptions from_json(const nlohmann::json& j);
};

class ClassifierImpl : public torch::nn::Module {
 public:
  explicit ClassifierImpl(const ClassifierOptions& o);
  at::Tensor features(const at::Tensor& x);  // [B, 256]
  at::Tensor forward(const at::Tensor& x);   // logits [B, classes]
  // Logits of this rank's rows of a data-parallel step: BatchNorm normalises over the global batch
  // (dist/sync_batch_norm.h). One process: forward(x).
  at::Tensor forward(const at::Tensor& x, const dist::DataParallel& dp);
  const ClassifierOptions& options() const { return options_; }

 private:
  ClassifierOptions options_;
  torch::nn::Sequential body_{nullptr};
  torch::nn::Linear fc_{nullptr}, head_{nullptr};
};
TORCH_MODULE(Classifier);

struct ClassifierTrainOptions {
  int64_t epochs = 3, batch = 128;
  double lr = 2e-3;
  uint64_t seed = 0;
  nlohmann::json to_json() const;
};

struct ClassifierReport {
  double test_accuracy = 0, train_loss = 0, images_per_second = 0;
  int64_t steps = 0;
};

// Adam on cross-entropy, one seeded shuffle per epoch; then the accuracy on the test images. Over several
// ranks (dp): each takes its part of every batch, BatchNorm uses the global batch's statistics and the
// gradients are summed, so every rank trains the one-process network up to rounding.
ClassifierReport train_classifier(Classifier& net, const ClassifierTrainOptions& o, const at::Tensor& images,
                                  const at::Tensor& labels, const at::Tensor& test_images,
                                  const at::Tensor& test_labels, const std::function<void(const std::string&)>& log,
                                  const dist::DataParallel& dp = {});
// The fraction of right labels; over several ranks each counts its part of the images.
double classifier_accuracy(Classifier& net, const at::Tensor& images, const at::Tensor& labels,
                           const dist::DataParallel& dp = {});

// The file: HDF5 parameters and buffers, attributes format = "dsx-classifier/1", options, report.
void save_classifier(const std::string& path, Classifier& net, const nlohmann::json& report);
Classifier load_classifier(const std::string& path, nlohmann::json* report = nullptr);

}  // namespace dsx
