#pragma once
// A model view that evaluates the network at decoupled noise levels: a call at grid point σ_i is answered
// with D(x, σ'_i). This is how a schedule learned with LD3's decoupled model times (learned/ld3.h) samples
// through any solver's fused loop: the solver's weights see σ_i, the network sees σ'_i. Calls at other σ
// (a solver's midpoints) pass through unchanged.
#include <vector>

#include "core/error.h"
#include "diffusion/schedule.h"
#include "models/denoiser.h"

namespace dsx {

class RetimedDenoiser : public DenoiserDecorator {
 public:
  RetimedDenoiser(const Denoiser& inner, std::vector<double> sigmas, std::vector<double> model_sigmas)
      : DenoiserDecorator(inner), sigmas_(std::move(sigmas)), model_sigmas_(std::move(model_sigmas)) {
    if (sigmas_.size() != model_sigmas_.size())
      fail("retimed model: {} model σ for {} grid points", model_sigmas_.size(), sigmas_.size());
  }
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, Features* out = nullptr) const override {
    const double s = sigma[0].item<double>();
    for (size_t i = 0; i < sigmas_.size(); ++i)
      if (same_sigma(s, sigmas_[i])) return inner_.denoise(x, at::full_like(sigma, model_sigmas_[i]), out);
    return inner_.denoise(x, sigma, out);
  }

 private:
  std::vector<double> sigmas_, model_sigmas_;
};

}  // namespace dsx
