#include "models/torchscript.h"

#include <torch/script.h>

#include <filesystem>

#include "core/error.h"
#include "core/hash.h"
#include "models/script_module.h"
#include "models/vp_adapter.h"
#include "store/cache.h"

namespace dsx {

NetOutput parse_net_output(const std::string& name) {
  if (name == "denoised") return NetOutput::Denoised;
  if (name == "eps") return NetOutput::Eps;
  if (name == "x0") return NetOutput::X0;
  if (name == "v") return NetOutput::V;
  fail("output = '{}' is unknown; allowed: denoised, eps, x0, v", name);
}

const char* to_string(NetOutput o) {
  switch (o) {
    case NetOutput::Denoised: return "denoised";
    case NetOutput::Eps: return "eps";
    case NetOutput::X0: return "x0";
    case NetOutput::V: return "v";
  }
  return "?";
}

namespace {

// The loaded module and how to call it: forward(x, label) or the features method, in chunks of max_batch.
// Shared by the EDM view and the VP adapter's network view; safe from several threads (TorchScript
// inference is reentrant and the parameters are frozen).
class ScriptNet {
 public:
  ScriptNet(torch::jit::Module module, std::string file, std::string features, int64_t max_batch)
      : module_(std::move(module)), file_(std::move(file)), features_(std::move(features)), max_batch_(max_batch) {}

  // The network's output for x, its per-sample second input (σ or t) and, for a class-conditional network,
  // the one-hot labels; with `map`, also the feature map.
  at::Tensor call(const at::Tensor& x, const at::Tensor& label, at::Tensor* map, const at::Tensor& classes = {}) const {
    const int64_t b = x.size(0), chunk = max_batch_ > 0 ? max_batch_ : b;
    if (b <= chunk) return call_once(x, label, map, classes);
    std::vector<at::Tensor> outs, maps;
    for (int64_t first = 0; first < b; first += chunk) {
      const int64_t n = std::min(chunk, b - first);
      at::Tensor m;
      outs.push_back(call_once(x.narrow(0, first, n), label.narrow(0, first, n), map ? &m : nullptr,
                               classes.defined() ? classes.narrow(0, first, n) : classes));
      if (map) maps.push_back(m);
    }
    if (map) *map = at::cat(maps, 0);
    return at::cat(outs, 0);
  }

  bool has_features() const { return !features_.empty(); }
  const std::string& file() const { return file_; }

  std::shared_ptr<const ScriptNet> converted(at::ScalarType dtype, at::Device device) const {
    torch::jit::Module copy = module_.clone();  // deep: the original keeps its precision
    copy.to(device, dtype);
    return std::make_shared<ScriptNet>(std::move(copy), file_, features_, max_batch_);
  }

 private:
  at::Tensor call_once(const at::Tensor& x, const at::Tensor& label, at::Tensor* map, const at::Tensor& classes) const {
    std::vector<c10::IValue> in{x, label};
    if (classes.defined()) in.emplace_back(classes);
    try {
      if (map && !features_.empty()) {
        c10::IValue r = module_.get_method(features_)(std::move(in));
        if (!r.isTuple() || r.toTupleRef().elements().size() != 2)
          fail("{}: {}(x, sigma) must return a tuple (output, feature map)", file_, features_);
        *map = r.toTupleRef().elements()[1].toTensor();
        return r.toTupleRef().elements()[0].toTensor();
      }
      c10::IValue r = module_.forward(std::move(in));
      if (!r.isTensor()) fail("{}: forward(x, sigma) must return a tensor, got {}", file_, r.tagKind());
      return r.toTensor();
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      fail("{}: the network failed on x {} {}: {}", file_, shape_text(x.sizes()), c10::toString(x.scalar_type()),
           script_error(e));
    }
  }

  mutable torch::jit::Module module_;  // a handle; forward() is not const-qualified but keeps no state
  std::string file_, features_;
  int64_t max_batch_;
};

// output: denoised — the module is the EDM denoiser itself (class-conditional with num_classes > 0).
class ScriptDenoiser : public Denoiser {
 public:
  ScriptDenoiser(std::shared_ptr<const ScriptNet> net, ModelInfo info, int64_t num_classes)
      : net_(std::move(net)), info_(std::move(info)), num_classes_(num_classes) {}
  const ModelInfo& info() const override { return info_; }
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out) const override {
    if (num_classes_ > 0)
      fail("{}: the network is class-conditional ({} classes): it is called with labels", net_->file(), num_classes_);
    return net_->call(x, sigma, out && net_->has_features() ? &out->map : nullptr);
  }
  int64_t num_classes() const override { return num_classes_; }
  at::Tensor denoise_labeled(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& labels,
                             Features* out) const override {
    if (num_classes_ == 0) return Denoiser::denoise_labeled(x, sigma, labels, out);
    return net_->call(x, sigma, out && net_->has_features() ? &out->map : nullptr, labels);
  }
  bool has_features() const override { return net_->has_features(); }
  std::shared_ptr<const Denoiser> converted(at::ScalarType dtype, at::Device device) const override {
    ModelInfo info = info_;
    info.dtype = dtype;
    info.device = device;
    return std::make_shared<ScriptDenoiser>(net_->converted(dtype, device), info, num_classes_);
  }

 private:
  std::shared_ptr<const ScriptNet> net_;
  ModelInfo info_;
  int64_t num_classes_;
};

// output: eps | x0 | v — the module as the VP adapter's network.
class ScriptVpNetwork : public VpNetwork {
 public:
  explicit ScriptVpNetwork(std::shared_ptr<const ScriptNet> net) : net_(std::move(net)) {}
  at::Tensor forward(const at::Tensor& x_vp, const at::Tensor& t_label) const override {
    return net_->call(x_vp, t_label, nullptr);
  }
  at::Tensor forward_features(const at::Tensor& x_vp, const at::Tensor& t_label, at::Tensor* map) const override {
    return net_->call(x_vp, t_label, map && net_->has_features() ? map : nullptr);
  }
  bool has_features() const override { return net_->has_features(); }
  std::shared_ptr<const VpNetwork> converted(at::ScalarType dtype, at::Device device) const override {
    return std::make_shared<ScriptVpNetwork>(net_->converted(dtype, device));
  }

 private:
  std::shared_ptr<const ScriptNet> net_;
};

// A latent model: the denoiser as it is, plus its decoder module (forward(latents) -> images). Owns both, so
// converting the model converts the decoder too.
class WithDecoder : public Denoiser {
 public:
  WithDecoder(ModelPtr model, torch::jit::Module decoder, std::string file)
      : model_(std::move(model)), decoder_(std::move(decoder)), file_(std::move(file)) {}
  const ModelInfo& info() const override { return model_->info(); }
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out) const override {
    return model_->denoise(x, sigma, out);
  }
  bool has_features() const override { return model_->has_features(); }
  int64_t num_classes() const override { return model_->num_classes(); }
  at::Tensor denoise_labeled(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& labels,
                             Features* out) const override {
    return model_->denoise_labeled(x, sigma, labels, out);
  }
  bool has_decoder() const override { return true; }
  at::Tensor decode(const at::Tensor& x) const override {
    try {
      c10::IValue r = decoder_.forward({x});
      if (!r.isTensor()) fail("{}: the decoder must return a tensor, got {}", file_, r.tagKind());
      return r.toTensor();
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      fail("{}: the decoder failed on {}: {}", file_, shape_text(x.sizes()), script_error(e));
    }
  }
  std::shared_ptr<const Denoiser> converted(at::ScalarType dtype, at::Device device) const override {
    torch::jit::Module copy = decoder_.clone();
    copy.to(device, dtype);
    return std::make_shared<WithDecoder>(model_->converted(dtype, device), std::move(copy), file_);
  }

 private:
  ModelPtr model_;
  mutable torch::jit::Module decoder_;
  std::string file_;
};

Prediction vp_prediction(NetOutput o) {
  switch (o) {
    case NetOutput::Eps: return Prediction::Eps;
    case NetOutput::X0: return Prediction::X0;
    case NetOutput::V: return Prediction::V;
    case NetOutput::Denoised: break;
  }
  fail("internal: output 'denoised' has no VP prediction");
}

std::vector<int64_t> shape_attribute(const torch::jit::Module& m, const std::string& file) {
  if (!m.hasattr("img_shape"))
    fail("{}: give the sample shape (model.shape: [C, H, W]); the module has no attribute img_shape", file);
  c10::IValue v = m.attr("img_shape");
  std::vector<int64_t> shape;
  if (v.isIntList()) return v.toIntVector();
  if (v.isTuple())
    for (const auto& e : v.toTupleRef().elements()) {
      if (!e.isInt()) fail("{}: attribute img_shape must hold integers", file);
      shape.push_back(e.toInt());
    }
  else
    fail("{}: attribute img_shape must be a list or tuple of integers, got {}", file, v.tagKind());
  return shape;
}

std::optional<double> double_attribute(const torch::jit::Module& m, const std::string& name) {
  if (!m.hasattr(name)) return std::nullopt;
  c10::IValue v = m.attr(name);
  if (v.isDouble()) return v.toDouble();
  if (v.isInt()) return double(v.toInt());
  return std::nullopt;
}

// One probe sample through the model as it will be called: output shape, dtype and finiteness, and the
// feature map's shape. Errors name the file and what was expected.
void probe(const Denoiser& model, const std::string& file) {
  const ModelInfo& info = model.info();
  std::vector<int64_t> shape{1};
  shape.insert(shape.end(), info.sample_shape.begin(), info.sample_shape.end());
  at::Tensor x = at::randn(shape, at::TensorOptions().dtype(info.dtype).device(info.device));
  const double sigma = std::sqrt(info.sigma_min * info.sigma_max);
  at::NoGradGuard no_grad;
  Features f;
  Features* fp = model.has_features() ? &f : nullptr;
  at::Tensor d =
      model.num_classes() > 0
          ? model.denoise_labeled(x, sigma_like(x, sigma), class_labels({0}, model.num_classes()).to(x.options()), fp)
          : model.denoise(x, sigma_like(x, sigma), fp);
  if (d.sizes() != x.sizes())
    fail("{}: the network returned {} for x {}: expected the input's shape (is model.shape right?)", file,
         shape_text(d.sizes()), shape_text(x.sizes()));
  if (d.scalar_type() != x.scalar_type())
    fail("{}: the network returned {} for {} input: expected the input's dtype", file, c10::toString(d.scalar_type()),
         c10::toString(x.scalar_type()));
  if (!at::isfinite(d).all().item<bool>()) fail("{}: the network returned NaN/Inf at σ = {:g}", file, sigma);
  if (model.has_features() && (f.map.dim() != 4 || f.map.size(0) != 1 || f.map.size(2) != 8 || f.map.size(3) != 8))
    fail("{}: the feature map must be [B, C, 8, 8], got {}", file, shape_text(f.map.sizes()));
}

}  // namespace

ModelPtr load_torchscript(const TorchScriptOptions& o) {
  torch::jit::Module module = load_script_module(o.file);
  if (!o.features.empty() && !module.find_method(o.features))
    fail("{}: the module has no method '{}' (model.features names the method returning (output, feature map))", o.file,
         o.features);

  ModelInfo info;
  info.kind = "torchscript";
  info.sample_shape = o.shape.empty() ? shape_attribute(module, o.file) : o.shape;
  for (int64_t s : info.sample_shape)
    if (s <= 0) fail("{}: the sample shape {} has a non-positive size", o.file, shape_text(info.sample_shape));
  info.dtype = at::kFloat;  // the precision it was saved in: its first floating parameter or buffer
  bool found = false;
  for (const at::Tensor& p : module.parameters())
    if (!found && at::isFloatingType(p.scalar_type())) info.dtype = p.scalar_type(), found = true;
  for (const at::Tensor& b : module.buffers())
    if (!found && at::isFloatingType(b.scalar_type())) info.dtype = b.scalar_type(), found = true;
  const bool vp = o.output != NetOutput::Denoised;
  if (vp && o.num_classes > 0)
    fail("{}: class-conditional networks are supported in the denoised (EDM) form only", o.file);
  if (vp) {
    if (!o.process || o.process->is_variance_exploding())
      fail("{}: output {} needs a VP process (model.process: {{kind: vp_linear | vp_cosine | vp_discrete}})", o.file,
           to_string(o.output));
    info.process = o.process;
  }
  // σ range: given, else the module's attributes, else the VP process's own range (from DPM-Solver's
  // t_min = 1e-3 where the process starts earlier), else EDM's.
  const std::optional<double> smin = o.sigma_min ? o.sigma_min : double_attribute(module, "sigma_min");
  const std::optional<double> smax = o.sigma_max ? o.sigma_max : double_attribute(module, "sigma_max");
  info.sigma_min = smin ? *smin : vp ? info.process->sigma_hat(std::max(info.process->t_min(), 1e-3)) : 0.002;
  info.sigma_max = smax ? *smax : vp ? info.process->sigma_hat(info.process->t_max()) : 80.0;
  if (!(info.sigma_min > 0 && info.sigma_max > info.sigma_min))
    fail("{}: σ range [{:g}, {:g}] is not a positive interval", o.file, info.sigma_min, info.sigma_max);

  Hasher h;  // the file's bytes and everything that changes what denoise() computes (not max_batch)
  h.update(std::string("torchscript/v1")).update(cache::file_checksum(o.file)).update(to_string(o.output));
  h.update(vp ? info.process->describe() : std::string("ve")).update(o.features);
  h.update(&o.num_classes, sizeof o.num_classes);
  for (int64_t s : info.sample_shape) h.update(&s, sizeof s);
  // A decoder changes what metrics see (and so what evaluate caches), not what denoise() computes: it is
  // part of the model's identity too.
  if (!o.decoder.empty()) h.update(cache::file_checksum(o.decoder));
  info.fingerprint = h.hex();

  auto net = std::make_shared<const ScriptNet>(std::move(module), o.file, o.features, o.max_batch);
  ModelPtr model =
      vp ? ModelPtr(std::make_shared<VpDenoiser>(std::make_shared<ScriptVpNetwork>(net), vp_prediction(o.output), info))
         : ModelPtr(std::make_shared<ScriptDenoiser>(net, info, o.num_classes));
  probe(*model, o.file);
  if (o.decoder.empty()) return model;
  torch::jit::Module decoder = load_script_module(o.decoder);
  decoder.to(info.dtype);
  model = std::make_shared<WithDecoder>(model, std::move(decoder), o.decoder);
  std::vector<int64_t> shape{1};
  shape.insert(shape.end(), info.sample_shape.begin(), info.sample_shape.end());
  at::Tensor image = model->decode(at::zeros(shape, at::TensorOptions().dtype(info.dtype)));
  if (image.dim() < 2 || image.size(0) != 1 || !at::isfinite(image).all().item<bool>())
    fail("{}: the decoder returned {} for latents {}: expected finite images [B, ...]", o.decoder,
         shape_text(image.sizes()), shape_text(shape));
  return model;
}

}  // namespace dsx
