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

void save_network(const std::string& path, const torch::nn::Module& m, const std::string& format,
                  const nlohmann::json& options, const std::string& info_key, const nlohmann::json& info) {
  h5::AtomicPath out(path);
  {
    h5::File f = h5::File::create(out.temp());
    write_parameters(f, m);
    f.set_attr("format", format);
    f.set_attr("options", options.dump());
    f.set_attr(info_key, info.dump());
    f.close();
  }
  out.commit();
}

NetworkHeader read_network_header(const h5::File& f, const std::string& format, const std::string& info_key,
                                  const std::string& what) {
  if (!f.has_attr("format") || f.attr_string("format") != format)
    fail("{}: not a {} (attribute format = {} expected)", f.path(), what, format);
  NetworkHeader h;
  for (auto [name, value] : {std::pair{std::string("options"), &h.options}, std::pair{info_key, &h.info}}) {
    if (!f.has_attr(name)) fail("{}: attribute '{}' is missing", f.path(), name);
    *value = nlohmann::json::parse(f.attr_string(name), nullptr, false);
    if (value->is_discarded()) fail("{}: attribute '{}' is not JSON", f.path(), name);
  }
  return h;
}

}  // namespace dsx
