#include "nets/classifier.h"

#include <torch/nn/functional/loss.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/pooling.h>
#include <torch/optim/adam.h>

#include <chrono>

#include "core/error.h"
#include "core/progress.h"
#include "dist/sync_batch_norm.h"
#include "nets/module_io.h"
#include "store/h5.h"

namespace dsx {
namespace {

constexpr const char* kFormat = "dsx-classifier/1";
constexpr int64_t kFeatures = 256;

void add_conv(torch::nn::Sequential& s, int64_t in, int64_t out) {
  s->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1)));
  s->push_back(torch::nn::BatchNorm2d(out));
  s->push_back(torch::nn::ReLU());
  s->push_back(torch::nn::MaxPool2d(2));
}

}  // namespace

nlohmann::json ClassifierOptions::to_json() const {
  return {{"image_channels", image_channels}, {"resolution", resolution}, {"classes", classes}};
}

ClassifierOptions ClassifierOptions::from_json(const nlohmann::json& j) {
  ClassifierOptions o;
  try {
    o.image_channels = j.at("image_channels");
    o.resolution = j.at("resolution");
    o.classes = j.at("classes");
  } catch (const nlohmann::json::exception& e) {
    fail("classifier options: {}", e.what());
  }
  return o;
}

nlohmann::json ClassifierTrainOptions::to_json() const {
  return {{"epochs", epochs}, {"batch", batch}, {"lr", lr}, {"seed", seed}};
}

ClassifierImpl::ClassifierImpl(const ClassifierOptions& o) : options_(o) {
  if (o.resolution != 32) fail("classifier: takes 32×32 images, got {}×{}", o.resolution, o.resolution);
  if (o.classes < 2) fail("classifier: needs at least 2 classes, got {}", o.classes);
  body_ = register_module("body", torch::nn::Sequential());
  add_conv(body_, o.image_channels, 16);
  add_conv(body_, 16, 32);
  add_conv(body_, 32, 64);
  add_conv(body_, 64, 128);
  fc_ = register_module("fc", torch::nn::Linear(128 * 2 * 2, kFeatures));
  head_ = register_module("head", torch::nn::Linear(kFeatures, o.classes));
}

at::Tensor ClassifierImpl::features(const at::Tensor& x) { return at::relu(fc_(body_->forward(x).flatten(1))); }

at::Tensor ClassifierImpl::forward(const at::Tensor& x) { return head_(features(x)); }

at::Tensor ClassifierImpl::forward(const at::Tensor& x, const dist::DataParallel& dp) {
  if (!dp.active()) return forward(x);
  at::Tensor h = x;
  for (auto& layer : *body_) {
    if (auto* bn = layer.ptr()->as<torch::nn::BatchNorm2dImpl>())
      h = dist::sync_batch_norm(h, *bn, dp);
    else
      h = layer.forward(h);
  }
  return head_(at::relu(fc_(h.flatten(1))));
}

double classifier_accuracy(Classifier& net, const at::Tensor& images, const at::Tensor& labels,
                           const dist::DataParallel& dp) {
  net->eval();
  at::NoGradGuard no_grad;
  const auto [first, last] = dp.share(images.size(0));
  std::vector<double> right = {0};
  for (int64_t i = first; i < last; i += 500) {
    const int64_t n = std::min<int64_t>(500, last - i);
    right[0] +=
        double((net->forward(images.narrow(0, i, n)).argmax(1) == labels.narrow(0, i, n)).sum().item<int64_t>());
  }
  dp.sum(right);
  return right[0] / double(images.size(0));
}

ClassifierReport train_classifier(Classifier& net, const ClassifierTrainOptions& o, const at::Tensor& images,
                                  const at::Tensor& labels, const at::Tensor& test_images,
                                  const at::Tensor& test_labels, const std::function<void(const std::string&)>& log,
                                  const dist::DataParallel& dp) {
  if (!labels.defined() || !test_labels.defined()) fail("train_classifier: the datasets need labels");
  if (labels.max().item<int64_t>() >= net->options().classes)
    fail("train_classifier: label {} but {} classes", labels.max().item<int64_t>(), net->options().classes);
  if (o.batch < dp.size())
    fail("train_classifier: batch {} is smaller than the {} ranks (each takes part of every batch)", o.batch,
         dp.size());
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(o.lr));
  const auto [first, last] = dp.share(o.batch);
  ClassifierReport rep;
  const int64_t n = images.size(0);
  ProgressLine progress("train_classifier", "images", o.epochs * n, log, 30.0);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    net->train();
    at::Generator g = at::detail::createCPUGenerator(o.seed * 1000003 + uint64_t(epoch));
    const at::Tensor order = at::randperm(n, g, at::kLong);
    double sum = 0;
    int64_t batches = 0;
    for (int64_t i = 0; i + o.batch <= n; i += o.batch) {
      // This rank's rows of the batch; its part of the batch mean (the ranks' parts add up to it).
      const at::Tensor idx = order.narrow(0, i + first, last - first);
      adam.zero_grad();
      namespace F = torch::nn::functional;
      const at::Tensor logits = net->forward(images.index_select(0, idx), dp), y = labels.index_select(0, idx);
      const at::Tensor loss =
          !dp.active()
              ? F::cross_entropy(logits, y)  // one process: the batch mean, as before
              : F::cross_entropy(logits, y, F::CrossEntropyFuncOptions().reduction(torch::kSum)) / double(o.batch);
      loss.backward();
      std::vector<double> logged = {loss.item<double>()};
      dp.sum_gradients(net->parameters(), logged);  // nothing for one process
      adam.step();
      sum += logged[0];
      ++batches;
      ++rep.steps;
      progress.advance(o.batch);
    }
    rep.train_loss = sum / double(std::max<int64_t>(batches, 1));
    if (log) log("train_classifier: epoch " + std::to_string(epoch + 1) + " loss " + std::to_string(rep.train_loss));
  }
  progress.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rep.images_per_second = double(rep.steps * o.batch) / std::max(seconds, 1e-9);
  rep.test_accuracy = classifier_accuracy(net, test_images, test_labels, dp);
  net->eval();
  return rep;
}

void save_classifier(const std::string& path, Classifier& net, const nlohmann::json& report) {
  save_network(path, *net, kFormat, net->options().to_json(), "report", report);
}

Classifier load_classifier(const std::string& path, nlohmann::json* report) {
  const h5::File f = h5::File::open(path);
  const NetworkHeader h = read_network_header(f, kFormat, "report", "dsx classifier file");
  Classifier net(ClassifierOptions::from_json(h.options));
  read_parameters(f, *net);
  if (report) *report = h.info;
  net->eval();
  for (at::Tensor p : net->parameters()) p.requires_grad_(false);
  return net;
}

}  // namespace dsx
