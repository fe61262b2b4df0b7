#include "nets/module_io.h"

#include "core/error.h"
#include "models/denoiser.h"
#include "store/tensor_h5.h"

namespace dsx {
namespace {

// Parameters then buffers, by name.
std::vector<std::pair<std::string, at::Tensor>> named_tensors(const torch::nn::Module& m) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value());
  for (const auto& b : m.named_buffers()) out.emplace_back(b.key(), b.value());
  return out;
}

}  // namespace

void write_parameters(h5::File& f, const torch::nn::Module& m, const std::string& prefix) {
  for (const auto& [name, t] : named_tensors(m))
    h5::write_tensor(f, prefix + name, t.detach().to(at::kCPU, at::kFloat).contiguous());
}

void read_parameters(const h5::File& f, torch::nn::Module& m, const std::string& prefix) {
  at::NoGradGuard no_grad;
  for (auto& [name, t] : named_tensors(m)) {
    const std::string key = prefix + name;
    if (!f.has(key)) fail("{}: dataset '{}' not found (the file was written for another network?)", f.path(), key);
    const at::Tensor v = h5::read_tensor(f, key, at::kFloat);
    if (!v.sizes().equals(t.sizes()))
      fail("{}: dataset '{}' has shape {}, the network needs {}", f.path(), key, shape_text(v.sizes()),
           shape_text(t.sizes()));
    if (!at::isfinite(v).all().item<bool>()) fail("{}: dataset '{}' contains NaN/Inf", f.path(), key);
    t.copy_(v);
  }
}

}  // namespace dsx
