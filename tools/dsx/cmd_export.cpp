// dsx export-model: a UNet dsx trained (model.h5, format dsx-unet/1) → the TorchScript contract of
// `model: {kind: torchscript}`, for use in PyTorch. It runs tools/export/export_dsx_unet.py with Debian's
// python3-torch: the network has to exist as a Python module to be scripted (LibTorch's C++ API cannot
// script a module), and that twin of nets/unet.cpp is checked against it by the CTest `exporters`.
#include <fmt/format.h>

#include <filesystem>

#include "commands.h"
#include "core/error.h"
#include "core/fs_util.h"
#include "core/subprocess.h"

namespace dsx::cli {

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

Action add_export_model(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("export-model", "export a UNet dsx trained (model.h5) to TorchScript (forward(x, sigma))");
  struct Args {
    std::string model, out, dtype = "float32", python = "/usr/bin/python3";
    std::string script = std::string(DSX_SOURCE_DIR) + "/tools/export/export_dsx_unet.py";
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("model", a->model, "the UNet file (a train_model stage's model.h5 or its export)")->required();
  cmd->add_option("output", a->out, "the TorchScript file to write")->required();
  cmd->add_option("--dtype", a->dtype, "weights of the exported module")->check(CLI::IsMember({"float32", "float64"}));
  cmd->add_option("--python", a->python, "a Python with torch and h5py (Debian: python3-torch python3-h5py)");
  cmd->add_option("--script", a->script, "the exporter (default: the source tree's tools/export/export_dsx_unet.py)");
  return [a] {
    if (!is_file(a->script))
      fail("{}: the exporter script is missing (give --script PATH/TO/tools/export/export_dsx_unet.py)", a->script);
    if (!is_file(a->model)) fail("{}: no such model file", a->model);
    const std::string command = fmt::format("{} {} {} {} --dtype {}", shell_quote(a->python), shell_quote(a->script),
                                            shell_quote(a->model), shell_quote(a->out), a->dtype);
    const int status = run_shell(command);
    if (status != 0) fail("export-model: the exporter failed (exit status {}); its message is above", status);
    return 0;
  };
}

}  // namespace dsx::cli
