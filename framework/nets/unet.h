#pragma once
// A small EDM-preconditioned UNet for 32×32 images (Karras et al. 2022, appendix B.6, on a DDPM++-style
// network: residual blocks with GroupNorm and SiLU, a positional σ embedding added to every block,
// self-attention at chosen resolutions, skip connections between encoder and decoder):
//
//   x ─ conv_in ─[res ×B]─ down ─[res ×B]─ down ─[res(+attn) ×B]─┐ (the last 8×8 encoder block:
//                    │               │                 │         │   the AMED feature)
//                    ▼ skips         ▼                 ▼        mid: res+attn, res
//   D ◄ c_skip·x + c_out·conv_out ◄[res ×B+1]◄ up ◄[res ×B+1]◄ up ◄[res(+attn) ×B+1]◄┘
//
// D(x; σ) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x; c_noise(σ)) with σ_data = 0.5: c_skip = σd²/(σ² + σd²),
// c_out = σ·σd/√(σ² + σd²), c_in = 1/√(σ² + σd²), c_noise = ln(σ)/4. Defaults give ~1.3 M parameters.
#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>
#include <nlohmann/json.hpp>

namespace dsx {

struct UNetOptions {
  int64_t image_channels = 1;
  int64_t resolution = 32;                        // square inputs; each level halves it
  int64_t base_channels = 32;                     // channels at full resolution
  std::vector<int64_t> channel_mult = {1, 2, 2};  // per level: 32×32, 16×16, 8×8
  int64_t blocks = 2;                             // residual blocks per encoder level (decoder: blocks + 1)
  std::vector<int64_t> attention_at = {8};        // resolutions with self-attention
  int64_t num_classes = 0;                        // > 0: class-conditional (one-hot labels)
  double sigma_data = 0.5;
  double dropout = 0.0;

  nlohmann::json to_json() const;
  static UNetOptions from_json(const nlohmann::json& j);  // errors name the bad key
  void validate() const;
};

// One residual block: GroupNorm → SiLU → conv → + embedding → GroupNorm → SiLU → dropout → conv, added to
// the (1×1-projected) input and scaled by √½; optionally followed by one self-attention layer.
class ResBlockImpl : public torch::nn::Module {
 public:
  ResBlockImpl(int64_t in, int64_t out, int64_t emb, bool attention, double dropout);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& emb);

 private:
  torch::nn::GroupNorm norm0_{nullptr}, norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Conv2d conv0_{nullptr}, conv1_{nullptr}, skip_{nullptr}, qkv_{nullptr}, proj_{nullptr};
  torch::nn::Linear affine_{nullptr};
  double dropout_;
};
TORCH_MODULE(ResBlock);

class UNetImpl : public torch::nn::Module {
 public:
  explicit UNetImpl(const UNetOptions& o);
  // The denoiser D(x; σ): x [B, C, H, W], sigma [B]; labels [B, num_classes] for conditional nets.
  // `feature` receives the last 8×8 encoder block's output [B, C', 8, 8] when given.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& labels = {},
                     at::Tensor* feature = nullptr);
  const UNetOptions& options() const { return options_; }
  bool has_feature() const { return feature_step_ >= 0; }  // a level at 8×8 resolution exists
  int64_t parameter_count() const;

 private:
  at::Tensor embed(const at::Tensor& c_noise, const at::Tensor& labels);
  UNetOptions options_;
  torch::nn::Linear map0_{nullptr}, map1_{nullptr}, map_label_{nullptr};
  torch::nn::Conv2d conv_in_{nullptr}, conv_out_{nullptr};
  torch::nn::GroupNorm norm_out_{nullptr};
  torch::nn::ModuleList encoder_, decoder_, resample_;  // blocks; downsampling and upsampling convolutions
  std::vector<int> encoder_plan_, decoder_plan_;        // per step: block index, or −1 − resample index
  int feature_step_ = -1;                               // encoder step whose output is the AMED feature
  torch::nn::ModuleList mid_;
};
TORCH_MODULE(UNet);

}  // namespace dsx
