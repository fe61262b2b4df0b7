#include "models/script_module.h"

#include <filesystem>

#include "core/error.h"
#include "core/fs_util.h"

namespace dsx {

std::string script_error(const std::exception& e) {
  if (const auto* c10e = dynamic_cast<const c10::Error*>(&e)) {
    const std::string w = c10e->what_without_backtrace();
    return w.substr(0, w.find('\n'));
  }
  std::string w = e.what();
  while (!w.empty() && (w.back() == '\n' || w.back() == ' ')) w.pop_back();
  return w.substr(w.rfind('\n') == std::string::npos ? 0 : w.rfind('\n') + 1);
}

torch::jit::Module load_script_module(const std::string& file) {
  if (!is_file(file)) fail("{}: file does not exist", file);
  torch::jit::Module module;
  try {
    module = torch::jit::load(file, at::kCPU);
  } catch (const std::exception& e) {
    fail("{}: not a TorchScript file (torch.jit.save): {}", file, script_error(e));
  }
  module.eval();
  for (at::Tensor p : module.parameters()) p.requires_grad_(false);
  if (!module.find_method("forward")) fail("{}: the module has no forward method", file);
  return module;
}

}  // namespace dsx
