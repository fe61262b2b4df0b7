#include "metrics/image_features.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <memory>

#include "core/error.h"
#include "core/hash.h"
#include "models/denoiser.h"
#include "models/script_module.h"
#include "nets/classifier.h"
#include "store/cache.h"

namespace dsx {
namespace {

std::string file_fingerprint(const std::string& kind, const std::string& file) {
  Hasher h;
  h.update("features/v1/" + kind).update(cache::file_checksum(file));
  return h.hex();
}

void check_images(const at::Tensor& x) {
  if (!x.defined() || x.dim() != 4) fail("features: images must be [N, C, H, W]");
}

// Calls a shared module and checks it returned [N, F] for N images.
at::Tensor call_features(const std::shared_ptr<torch::jit::Module>& m, const std::string& file,
                         std::vector<c10::IValue> args, int64_t n, const torch::jit::Kwargs& kwargs = {}) {
  c10::IValue out;
  try {
    torch::NoGradGuard no_grad;
    out = m->get_method("forward")(std::move(args), kwargs);
  } catch (const std::exception& e) {
    fail("{}: forward failed: {}", file, script_error(e));
  }
  if (!out.isTensor()) fail("{}: forward must return a tensor [N, F]", file);
  at::Tensor f = out.toTensor();
  if (f.dim() != 2 || f.size(0) != n)
    fail("{}: forward must return [N={}, F] features, returned {}", file, n, shape_text(f.sizes()));
  return f.to(at::kFloat);
}

}  // namespace

std::string image_features_fingerprint(const std::string& kind, const std::string& file) {
  if (kind == "pixels") {
    if (!file.empty()) fail("features: 'pixels' takes no file (got {})", file);
    return hash_hex("features/v1/pixels");
  }
  if (kind != "torchscript" && kind != "inception" && kind != "classifier")
    fail("features: unknown kind '{}'; allowed: pixels, torchscript, inception, classifier", kind);
  if (file.empty()) fail("features: '{}' needs a file", kind);
  return file_fingerprint(kind, file);
}

ImageFeatures load_image_features(const std::string& kind, const std::string& file) {
  const std::string fingerprint = image_features_fingerprint(kind, file);
  if (kind == "pixels") {
    return {"pixels", fingerprint, [](const at::Tensor& x) {
              check_images(x);
              return x.reshape({x.size(0), -1}).to(at::kFloat);
            }};
  }
  if (kind == "classifier") {
    auto net = std::make_shared<Classifier>(load_classifier(file));
    return {"classifier (" + std::filesystem::path(file).filename().string() + ")", fingerprint,
            [net](const at::Tensor& x) {
              check_images(x);
              at::NoGradGuard no_grad;
              return (*net)->features(x.to(at::kFloat));
            }};
  }
  auto module = std::make_shared<torch::jit::Module>(load_script_module(file));
  const std::string name = kind + " (" + std::filesystem::path(file).filename().string() + ")";
  if (kind == "torchscript")
    return {name, fingerprint, [module, file](const at::Tensor& x) {
              check_images(x);
              return call_features(module, file, {x.to(at::kFloat)}, x.size(0));
            }};
  return {
      name, fingerprint, [module, file](const at::Tensor& x) {
        check_images(x);
        if (x.size(1) != 1 && x.size(1) != 3) fail("features: inception needs 1 or 3 channels, got {}", x.size(1));
        at::Tensor img = to_uint8_images(x);
        if (img.size(1) == 1) img = img.repeat({1, 3, 1, 1});
        const at::Tensor f = call_features(module, file, {img}, x.size(0), {{"return_features", c10::IValue(true)}});
        if (f.size(1) != 2048)
          fail("{}: an inception detector returns 2048 pool features, this one {}", file, f.size(1));
        return f;
      }};
}

}  // namespace dsx
