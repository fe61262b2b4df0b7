#pragma once
// Loading TorchScript files (torch.jit.save) with errors a user can act on; shared by the TorchScript
// models and the metrics' feature extractors. Includes torch/script.h: include it from .cpp files only.
#include <exception>
#include <string>

#include <torch/script.h>

namespace dsx {

// The module on the CPU in eval mode with frozen parameters; errors name the file.
torch::jit::Module load_script_module(const std::string& file);
// What went wrong in a TorchScript call, without the tracebacks: a c10::Error's first line, or the
// interpreter's last line ("RuntimeError: shape '[1, 2, 3]' is invalid for input of size 4").
std::string script_error(const std::exception& e);

}  // namespace dsx
