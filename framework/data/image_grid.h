#pragma once
// Sample grids: images [N, C, H, W] in [−1, 1] tiled row by row into one uint8 picture on a white background,
// quantised as EDM writes its PNGs, so a grid's pixels are exactly the images' uint8 values.
#include <cstdint>
#include <string>

#include <ATen/ATen.h>

namespace dsx {

// EDM's uint8 quantisation of [−1, 1] images: floor(clamp(x·127.5 + 128, 0, 255)).
at::Tensor to_uint8_images(const at::Tensor& x);

// [C, rows·(H + pad) + pad, cols·(W + pad) + pad] uint8 with rows = ⌈N/cols⌉; image i at row i / cols,
// column i % cols, its top-left pixel at (pad + row·(H + pad), pad + column·(W + pad)).
at::Tensor tile_images(const at::Tensor& images, int64_t cols, int64_t pad = 2);
// tile_images written as a PNG (1 or 3 channels).
void write_image_grid(const std::string& path, const at::Tensor& images, int64_t cols, int64_t pad = 2);

}  // namespace dsx
