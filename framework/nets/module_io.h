#pragma once
// A torch::nn::Module's parameters and buffers as HDF5 datasets named by their module path ("encoder.0.
// conv0.weight"), float32: how dsx's networks (UNet, classifier, AMED predictor) are stored. Loading checks
// every tensor is present, has the module's shape and is finite, and names the file and dataset if not.
#include <string>

#include <torch/nn/module.h>
#include <nlohmann/json.hpp>

#include "store/h5.h"

namespace dsx {

void write_parameters(h5::File& f, const torch::nn::Module& m, const std::string& prefix = "");
void read_parameters(const h5::File& f, torch::nn::Module& m, const std::string& prefix = "");

// A network file: the parameters plus root attributes `format` (e.g. "dsx-unet/1"), `options` (what builds
// the network, JSON) and one attribute named `info_key` with what produced it (JSON: "training" for a UNet,
// "report" for a classifier). Written to a temporary file and renamed into place.
void save_network(const std::string& path, const torch::nn::Module& m, const std::string& format,
                  const nlohmann::json& options, const std::string& info_key, const nlohmann::json& info);
struct NetworkHeader {
  nlohmann::json options, info;
};
// Checks `format` (errors call the file a `what`, e.g. "dsx UNet file") and parses options and info.
NetworkHeader read_network_header(const h5::File& f, const std::string& format, const std::string& info_key,
                                  const std::string& what);

}  // namespace dsx
