#pragma once
// The IDX format of (Fashion-)MNIST, gzipped: a big-endian header (magic 0x0000080D, D = number of
// dimensions, then D sizes) followed by unsigned bytes. Read with zlib.
#include <string>

#include <ATen/ATen.h>

namespace dsx {

// uint8 tensor of the file's shape ([N, H, W] for images, [N] for labels). Errors name the file: missing,
// not gzip, wrong magic, truncated.
at::Tensor read_idx_gz(const std::string& path);

}  // namespace dsx
