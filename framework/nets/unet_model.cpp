#include "nets/unet_model.h"

#include "core/error.h"
#include "core/hash.h"
#include "nets/module_io.h"
#include "store/cache.h"
#include "store/h5.h"

namespace dsx {
namespace {

constexpr const char* kFormat = "dsx-unet/1";

class UNetDenoiser : public Denoiser {
 public:
  UNetDenoiser(UNet net, std::string fingerprint) : net_(std::move(net)) {
    net_->eval();
    for (at::Tensor p : net_->parameters()) p.requires_grad_(false);
    const UNetOptions& o = net_->options();
    info_.sample_shape = {o.image_channels, o.resolution, o.resolution};
    info_.kind = "unet";
    info_.fingerprint = std::move(fingerprint);
    const at::Tensor first = net_->parameters().front();
    info_.dtype = first.scalar_type();
    info_.device = first.device();
  }
  const ModelInfo& info() const override { return info_; }
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out = nullptr) const override {
    if (net_->options().num_classes > 0)
      fail("unet: a class-conditional network is called with labels (through a seeded batch)");
    return call(x, sigma, {}, out);
  }
  at::Tensor denoise_labeled(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& labels,
                             Features* out = nullptr) const override {
    return call(x, sigma, labels, out);
  }
  bool has_features() const override { return net_->has_feature(); }
  int64_t num_classes() const override { return net_->options().num_classes; }
  ModelPtr converted(at::ScalarType dtype, at::Device device) const override {
    UNet copy(net_->options());
    {
      at::NoGradGuard no_grad;
      auto src = net_->named_parameters();
      for (auto& p : copy->named_parameters()) p.value().copy_(src[p.key()]);
      auto buffers = net_->named_buffers();  // none today; kept so a normalisation with statistics stays right
      for (auto& b : copy->named_buffers()) b.value().copy_(buffers[b.key()]);
    }
    copy->to(device, dtype);
    copy->eval();
    return std::make_shared<UNetDenoiser>(copy, info_.fingerprint);
  }

 private:
  at::Tensor call(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& labels, Features* out) const {
    at::Tensor feature;
    at::Tensor d = net_->forward(x.to(info_.dtype), sigma.to(info_.dtype), labels, out ? &feature : nullptr);
    if (out) out->map = feature;
    return d.to(x.scalar_type());
  }
  mutable UNet net_;  // forward() is not const in LibTorch; in eval mode it keeps no state
  ModelInfo info_;
};

}  // namespace

void save_unet(const std::string& path, UNet& net, const nlohmann::json& training) {
  save_network(path, *net, kFormat, net->options().to_json(), "training", training);
}

LoadedUNet load_unet(const std::string& path) {
  const h5::File f = h5::File::open(path);
  const NetworkHeader h = read_network_header(f, kFormat, "training", "dsx UNet file");
  LoadedUNet l;
  l.net = UNet(UNetOptions::from_json(h.options));
  read_parameters(f, *l.net);
  l.training = h.info;
  return l;
}

ModelPtr unet_denoiser(UNet net, std::string fingerprint) {
  return std::make_shared<UNetDenoiser>(std::move(net), std::move(fingerprint));
}

ModelPtr unet_denoiser(const std::string& path) {
  LoadedUNet l = load_unet(path);
  Hasher h;
  h.update(std::string("unet/v1")).update(cache::file_checksum(path));
  return unet_denoiser(l.net, h.hex());
}

}  // namespace dsx
