#include "nets/unet.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/dropout.h>
#include <torch/nn/functional/upsampling.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace dsx {
namespace {

namespace F = torch::nn::functional;
constexpr double kSkipScale = 0.70710678118654752;  // √½: a residual sum keeps unit variance
constexpr double kMaxPositions = 10000.0;

// EDM's GroupNorm: up to 32 groups of at least 4 channels (and a divisor of the channel count).
torch::nn::GroupNorm group_norm(int64_t channels) {
  int64_t g = std::min<int64_t>(32, std::max<int64_t>(1, channels / 4));
  while (channels % g) --g;
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(g, channels).eps(1e-5));
}

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2));
}

// Layers whose output starts at zero (EDM init_zero): each residual branch starts as the identity.
template <class M>
M zero_init(M m) {
  torch::NoGradGuard g;
  for (auto& p : m->parameters()) p.zero_();
  return m;
}

}  // namespace

nlohmann::json UNetOptions::to_json() const {
  return {{"image_channels", image_channels}, {"resolution", resolution}, {"base_channels", base_channels},
          {"channel_mult", channel_mult},     {"blocks", blocks},         {"attention_at", attention_at},
          {"num_classes", num_classes},       {"sigma_data", sigma_data}, {"dropout", dropout}};
}

UNetOptions UNetOptions::from_json(const nlohmann::json& j) {
  UNetOptions o;
  try {
    o.image_channels = j.at("image_channels");
    o.resolution = j.at("resolution");
    o.base_channels = j.at("base_channels");
    o.channel_mult = j.at("channel_mult").get<std::vector<int64_t>>();
    o.blocks = j.at("blocks");
    o.attention_at = j.at("attention_at").get<std::vector<int64_t>>();
    o.num_classes = j.at("num_classes");
    o.sigma_data = j.at("sigma_data");
    o.dropout = j.at("dropout");
  } catch (const nlohmann::json::exception& e) {
    fail("UNet options: {}", e.what());
  }
  o.validate();
  return o;
}

void UNetOptions::validate() const {
  if (image_channels < 1 || image_channels > 4) fail("unet.image_channels = {}: allowed 1..4", image_channels);
  if (base_channels < 8 || base_channels % 8) fail("unet.base_channels = {}: a multiple of 8, >= 8", base_channels);
  if (channel_mult.empty() || channel_mult.size() > 5) fail("unet.channel_mult: 1 to 5 levels");
  for (int64_t m : channel_mult)
    if (m < 1 || m > 8) fail("unet.channel_mult: each multiplier in 1..8, got {}", m);
  if (resolution < 8 || (resolution & (resolution - 1)) || (resolution >> (channel_mult.size() - 1)) < 4)
    fail("unet.resolution = {}: a power of two >= 8 that {} levels can halve down to 4 or more", resolution,
         channel_mult.size());
  if (blocks < 1 || blocks > 8) fail("unet.blocks = {}: allowed 1..8", blocks);
  for (int64_t r : attention_at) {
    bool level = false;
    for (size_t l = 0; l < channel_mult.size(); ++l) level = level || (resolution >> l) == r;
    if (!level) fail("unet.attention_at: {} is not the resolution of a level", r);
  }
  if (num_classes < 0) fail("unet.num_classes = {}: must be >= 0", num_classes);
  if (!(sigma_data > 0)) fail("unet.sigma_data = {}: must be > 0", sigma_data);
  if (!(dropout >= 0 && dropout < 1)) fail("unet.dropout = {}: allowed [0, 1)", dropout);
}

ResBlockImpl::ResBlockImpl(int64_t in, int64_t out, int64_t emb, bool attention, double dropout) : dropout_(dropout) {
  norm0_ = register_module("norm0", group_norm(in));
  conv0_ = register_module("conv0", conv(in, out, 3));
  affine_ = register_module("affine", torch::nn::Linear(emb, out));
  norm1_ = register_module("norm1", group_norm(out));
  conv1_ = register_module("conv1", zero_init(conv(out, out, 3)));
  if (in != out) skip_ = register_module("skip", conv(in, out, 1));
  if (attention) {
    norm2_ = register_module("norm2", group_norm(out));
    qkv_ = register_module("qkv", conv(out, 3 * out, 1));
    proj_ = register_module("proj", zero_init(conv(out, out, 1)));
  }
}

at::Tensor ResBlockImpl::forward(const at::Tensor& x, const at::Tensor& emb) {
  at::Tensor h = conv0_(at::silu(norm0_(x)));
  h = h + affine_(emb).unsqueeze(-1).unsqueeze(-1);
  h = at::silu(norm1_(h));
  if (dropout_ > 0) h = F::dropout(h, F::DropoutFuncOptions().p(dropout_).training(is_training()));
  h = conv1_(h);
  at::Tensor out = (h + (skip_ ? skip_(x) : x)) * kSkipScale;
  if (!qkv_) return out;
  // Single-head self-attention over the H·W positions.
  const int64_t b = out.size(0), c = out.size(1), hh = out.size(2), ww = out.size(3);
  const at::Tensor qkv = qkv_(norm2_(out)).reshape({b, 3, c, hh * ww});
  const at::Tensor q = qkv.select(1, 0), k = qkv.select(1, 1), v = qkv.select(1, 2);
  const at::Tensor w = at::softmax(at::bmm(q.transpose(1, 2), k) / std::sqrt(double(c)), -1);  // [B, HW, HW]
  const at::Tensor a = at::bmm(v, w.transpose(1, 2)).reshape({b, c, hh, ww});
  return (proj_(a) + out) * kSkipScale;
}

UNetImpl::UNetImpl(const UNetOptions& o) : options_(o) {
  o.validate();
  const int64_t base = o.base_channels, emb = 4 * base, levels = int64_t(o.channel_mult.size());
  map0_ = register_module("map0", torch::nn::Linear(base, emb));
  map1_ = register_module("map1", torch::nn::Linear(emb, emb));
  if (o.num_classes > 0)
    map_label_ =
        register_module("map_label", torch::nn::Linear(torch::nn::LinearOptions(o.num_classes, emb).bias(false)));
  conv_in_ = register_module("conv_in", conv(o.image_channels, base, 3));
  encoder_ = register_module("encoder", torch::nn::ModuleList());
  decoder_ = register_module("decoder", torch::nn::ModuleList());
  resample_ = register_module("resample", torch::nn::ModuleList());
  mid_ = register_module("mid", torch::nn::ModuleList());
  auto attends = [&](int64_t level) {
    return std::count(o.attention_at.begin(), o.attention_at.end(), o.resolution >> level) > 0;
  };

  std::vector<int64_t> skips = {base};  // channels of each skip, in push order
  int64_t ch = base;
  for (int64_t l = 0; l < levels; ++l) {
    if (l > 0) {
      encoder_plan_.push_back(-1 - int(resample_->size()));
      resample_->push_back(conv(ch, ch, 3, 2));
      skips.push_back(ch);
    }
    const int64_t out = base * o.channel_mult[size_t(l)];
    for (int64_t b = 0; b < o.blocks; ++b) {
      encoder_plan_.push_back(int(encoder_->size()));
      encoder_->push_back(ResBlock(ch, out, emb, attends(l), o.dropout));
      ch = out;
      skips.push_back(ch);
      if ((o.resolution >> l) == 8) feature_step_ = int(encoder_plan_.size()) - 1;
    }
  }
  mid_->push_back(ResBlock(ch, ch, emb, true, o.dropout));
  mid_->push_back(ResBlock(ch, ch, emb, false, o.dropout));
  for (int64_t l = levels - 1; l >= 0; --l) {
    const int64_t out = base * o.channel_mult[size_t(l)];
    for (int64_t b = 0; b <= o.blocks; ++b) {
      decoder_plan_.push_back(int(decoder_->size()));
      decoder_->push_back(ResBlock(ch + skips.back(), out, emb, attends(l), o.dropout));
      skips.pop_back();
      ch = out;
    }
    if (l > 0) {
      decoder_plan_.push_back(-1 - int(resample_->size()));
      resample_->push_back(conv(ch, ch, 3));  // after a nearest-neighbour ×2
    }
  }
  norm_out_ = register_module("norm_out", group_norm(ch));
  conv_out_ = register_module("conv_out", zero_init(conv(ch, o.image_channels, 3)));
}

at::Tensor UNetImpl::embed(const at::Tensor& c_noise, const at::Tensor& labels) {
  // EDM's PositionalEmbedding with endpoint=True: frequencies (1/10000)^(i/(half − 1)), cos then sin.
  const int64_t half = options_.base_channels / 2;
  const at::Tensor freqs = at::pow(1.0 / kMaxPositions, at::arange(half, c_noise.options()) / double(half - 1));
  const at::Tensor arg = c_noise.unsqueeze(1) * freqs.unsqueeze(0);
  at::Tensor emb = at::silu(map0_(at::cat({at::cos(arg), at::sin(arg)}, 1)));
  emb = map1_(emb);
  if (map_label_) {
    if (!labels.defined() || labels.dim() != 2 || labels.size(1) != options_.num_classes)
      fail("unet: a class-conditional net needs one-hot labels [B, {}]", options_.num_classes);
    emb = emb + map_label_(labels.to(emb.scalar_type()));
  }
  return at::silu(emb);
}

at::Tensor UNetImpl::forward(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& labels,
                             at::Tensor* feature) {
  const double sd = options_.sigma_data;
  const at::Tensor s = sigma.to(x.scalar_type()).reshape({-1, 1, 1, 1});
  const at::Tensor c_skip = sd * sd / (s * s + sd * sd), c_out = s * sd / (s * s + sd * sd).sqrt();
  const at::Tensor c_in = 1.0 / (s * s + sd * sd).sqrt(), c_noise = s.log().flatten() / 4.0;

  const at::Tensor emb = embed(c_noise, labels);
  at::Tensor h = conv_in_(c_in * x);
  std::vector<at::Tensor> skips = {h};
  for (size_t i = 0; i < encoder_plan_.size(); ++i) {
    const int k = encoder_plan_[i];
    h = k >= 0 ? encoder_[size_t(k)]->as<ResBlock>()->forward(h, emb)
               : resample_[size_t(-1 - k)]->as<torch::nn::Conv2d>()->forward(h);
    skips.push_back(h);
    if (feature && int(i) == feature_step_) *feature = h;
  }
  for (const auto& m : *mid_) h = m->as<ResBlock>()->forward(h, emb);
  for (int k : decoder_plan_) {
    if (k >= 0) {
      h = decoder_[size_t(k)]->as<ResBlock>()->forward(at::cat({h, skips.back()}, 1), emb);
      skips.pop_back();
    } else {
      h = F::interpolate(h,
                         F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest));
      h = resample_[size_t(-1 - k)]->as<torch::nn::Conv2d>()->forward(h);
    }
  }
  const at::Tensor f = conv_out_(at::silu(norm_out_(h)));
  return c_skip * x + c_out * f;
}

int64_t UNetImpl::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

}  // namespace dsx
