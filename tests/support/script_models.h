#pragma once
// TorchScript stand-ins written in the tests (torch::jit::Module::define): the exact mixture denoiser as a
// scripted network in each form the torchscript model kind accepts, and small broken modules for the error
// paths. Torch's script headers stay in script_models.cpp.
#include <map>
#include <string>

#include <ATen/ATen.h>

#include "models/gaussian_mixture.h"

namespace dsx::test {

// How the scripted mixture presents itself.
enum class ScriptForm {
  Denoised,     // forward(x, sigma) -> D, plus features(x, sigma) -> (D, responsibilities [B, 1, 8, 8]) and the
                // attributes img_shape, sigma_min (0.002), sigma_max (80)
  VpEps,        // forward(x_vp, t) -> ε of the VP-linear process (β 0.1 → 20) whose x̂ = x_vp/α, σ̂ = σ_t/α_t
  VpX0,         //   ... -> x0
  VpV,          //   ... -> v = α ε − σ_t x0
  Conditional,  // forward(x, sigma, class_labels [B, 3]): the mixture translated by 0.5·class, i.e. the
                // denoiser of GaussianMixture(means + 0.5·c) for a sample of class c
};

// Saves `mixture` (float64 buffers) as a TorchScript file computing exactly what GaussianMixture::denoise
// computes (the same operations in the same order), in the given form.
void save_script_mixture(const GaussianMixture& mixture, ScriptForm form, const std::string& path);

// Saves a module whose methods are `source` (TorchScript), with tensor buffers and an optional img_shape.
void save_script_module(const std::string& source, const std::string& path,
                        const std::map<std::string, at::Tensor>& buffers = {}, std::vector<int64_t> img_shape = {});

}  // namespace dsx::test
