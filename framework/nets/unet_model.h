#pragma once
// A trained UNet on disk and as a model. The file is HDF5: the EMA parameters (module_io.h) and root
// attributes `format` = "dsx-unet/1", `options` (UNetOptions as JSON) and `training` (what produced it:
// steps, images seen, final loss, data). `model: {kind: unet, file: F}` samples it; `dsx export-model`
// turns it into the TorchScript contract.
#include <string>

#include <nlohmann/json.hpp>

#include "models/denoiser.h"
#include "nets/unet.h"

namespace dsx {

void save_unet(const std::string& path, UNet& net, const nlohmann::json& training = nlohmann::json::object());

struct LoadedUNet {
  UNet net{nullptr};
  nlohmann::json training;
};
LoadedUNet load_unet(const std::string& path);

// The network as an EDM denoiser (float32 on the CPU as loaded; converted() moves it). Its features are the
// last 8×8 encoder block. Parameters are frozen; gradients flow to the inputs (AMED trains through them).
ModelPtr unet_denoiser(const std::string& path);
ModelPtr unet_denoiser(UNet net, std::string fingerprint);

}  // namespace dsx
