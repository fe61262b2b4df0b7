#pragma once
// PNG files through libpng's simplified API: read as grey or RGB bytes, write a [C, H, W] uint8 image.
#include <string>

#include <ATen/ATen.h>

namespace dsx {

// [channels, H, W] uint8, converted by libpng to grey (1) or RGB (3) whatever the file's own format.
at::Tensor read_png(const std::string& path, int channels);
// image: [1 or 3, H, W] uint8 on the CPU.
void write_png(const std::string& path, const at::Tensor& image);

}  // namespace dsx
