#pragma once
// Tensor <-> HDF5 dataset helpers on top of store/h5.h.
#include <string>

#include <ATen/ATen.h>

#include "store/h5.h"

namespace dsx::h5 {

// Reads a float or integer dataset as a CPU tensor of `dtype` (float64 by default).
at::Tensor read_tensor(const File& f, const std::string& name, at::ScalarType dtype = at::kDouble);
// Writes float32/float64/int64 tensors with their own element type (other floats are stored as float32).
void write_tensor(File& f, const std::string& name, const at::Tensor& t, bool compress = false);

}  // namespace dsx::h5
