#pragma once
// A torch::nn::Module's parameters and buffers as HDF5 datasets named by their module path ("encoder.0.
// conv0.weight"), float32: how dsx's networks (UNet, classifier, AMED predictor) are stored. Loading checks
// every tensor is present, has the module's shape and is finite, and names the file and dataset if not.
#include <string>

#include <torch/nn/module.h>

#include "store/h5.h"

namespace dsx {

void write_parameters(h5::File& f, const torch::nn::Module& m, const std::string& prefix = "");
void read_parameters(const h5::File& f, torch::nn::Module& m, const std::string& prefix = "");

}  // namespace dsx
