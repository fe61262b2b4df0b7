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

// Appends t ([n, *inner]) to a row dataset made with File::create_rows.
void append_rows(File& f, const std::string& name, const at::Tensor& t);
// Rows [first, first + count) as a CPU tensor of `dtype`.
at::Tensor read_rows(const File& f, const std::string& name, int64_t first, int64_t count,
                     at::ScalarType dtype = at::kFloat);

}  // namespace dsx::h5
