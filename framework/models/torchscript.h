#pragma once
// A researcher's network saved with torch.jit.save, as a Denoiser every solver, AMED stage, cache and metric
// can use unchanged. The contract (README "TorchScript models"):
//
//   output: denoised   forward(x [B,*shape], sigma [B]) -> D(x; σ), EDM form
//   output: eps|x0|v   forward(x_vp [B,*shape], t [B]) -> ε | x0 | v of a VP network, t its own time input
//                      (continuous t, or the discrete step index), through VpDenoiser (models/vp_adapter.h)
//   condition: N       class-conditional (denoised only): forward(x, sigma, class_labels) with one-hot labels
//                      [B, N] drawn per sample seed (models/denoiser.h SeededBatch)
//   decoder: FILE      optional TorchScript forward(latents) -> images (an LDM's VAE decoder), applied to
//                      samples before metrics and pictures (Denoiser::decode)
//   features: NAME     optional method NAME(x, sigma_or_t) -> (output, feature map [B, C, 8, 8]): the AMED
//                      predictor's input, as the official code hooks the network's last 8×8 encoder block
//
// Parameters are frozen (requires_grad false) and the module is in eval mode; autograd still flows to the
// inputs when the caller enables it (AMED training differentiates through x and σ). The module is checked
// at load on one probe sample, so a wrong method, shape, dtype or a NaN output is an error naming the file.
// The header stays free of torch/script.h: only torchscript.cpp pays for it.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/denoiser.h"

namespace dsx {

enum class NetOutput { Denoised, Eps, X0, V };
NetOutput parse_net_output(const std::string& name);  // denoised | eps | x0 | v
const char* to_string(NetOutput o);

struct TorchScriptOptions {
  std::string file;  // a torch.jit.save'd module
  NetOutput output = NetOutput::Denoised;
  std::shared_ptr<const NoiseProcess> process;  // the VP process of eps|x0|v networks (ignored for denoised)
  std::vector<int64_t> shape;                   // one sample's shape; empty: the module's `img_shape` attribute
  std::optional<double> sigma_min, sigma_max;   // default: the module's `sigma_min`/`sigma_max`, else EDM's
  std::string features;                         // method name, or "" when the network exposes none
  int64_t max_batch = 0;                        // > 0: split larger batches into chunks of this size
  int64_t num_classes = 0;  // > 0: forward(x, sigma, class_labels [B, num_classes]), denoised form only
  std::string decoder;      // a TorchScript file decoding samples (latents) to images, or ""
};

// Loads, checks and wraps the module (float32 as saved is typical; ModelPool converts per run precision).
ModelPtr load_torchscript(const TorchScriptOptions& options);

}  // namespace dsx
