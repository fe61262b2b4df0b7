#pragma once
// NumPy .npz archives: a zip of .npy arrays (np.savez stores them, np.savez_compressed deflates them), the
// format of EDM's and pytorch-fid's reference statistics. The zip container is libzip's; the .npy header
// (magic, version, a Python dict literal with descr / fortran_order / shape) is read here, for the
// little-endian numeric types such files hold: float32/64, int32/64, uint8, bool.
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace dsx {

// Every array of the archive by its name without ".npy". Errors name the file and the member.
std::map<std::string, at::Tensor> read_npz(const std::string& path);
// Writes the arrays (CPU, C order, stored uncompressed as np.savez does) to a temporary file beside `path`
// and renames it into place, so a reader never sees half a file.
void write_npz(const std::string& path, const std::map<std::string, at::Tensor>& arrays);

// One .npy member: decoded (errors prefixed with `where`) and encoded (format 1.0, C order).
at::Tensor npy_decode(const std::vector<char>& bytes, const std::string& where);
std::vector<char> npy_encode(const at::Tensor& array, const std::string& name);

}  // namespace dsx
