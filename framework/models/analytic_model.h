#pragma once
// Base of the analytic testbeds (mixtures, diagonal Gaussians): they offer every capability (exact ODE
// solution, exact data samples, density) and convert by copying themselves, so each testbed class only
// implements the math.
#include <memory>

#include "models/denoiser.h"

namespace dsx {

// Self must be copyable and have an in-place `to(dtype, device)`.
template <class Self>
class AnalyticModel : public Denoiser, public ExactOde, public DataSampler, public Density {
 public:
  std::shared_ptr<const Denoiser> converted(at::ScalarType dtype, at::Device device) const override {
    auto copy = std::make_shared<Self>(static_cast<const Self&>(*this));
    copy->to(dtype, device);
    return copy;
  }
  const ExactOde* exact() const override { return this; }
  const DataSampler* data() const override { return this; }
  const Density* density() const override { return this; }
};

}  // namespace dsx
