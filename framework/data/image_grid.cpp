#include "data/image_grid.h"

#include "core/error.h"
#include "data/png_io.h"

namespace dsx {

at::Tensor to_uint8_images(const at::Tensor& x) {
  return (x.to(at::kFloat) * 127.5 + 128.0).clamp(0.0, 255.0).to(at::kByte);
}

at::Tensor tile_images(const at::Tensor& images, int64_t cols, int64_t pad) {
  if (!images.defined() || images.dim() != 4 || images.size(0) < 1) fail("grid: images must be [N, C, H, W], N >= 1");
  if (cols < 1 || pad < 0) fail("grid: cols must be >= 1 and pad >= 0");
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  cols = std::min(cols, n);
  const int64_t rows = (n + cols - 1) / cols;
  at::Tensor grid = at::full({c, rows * (h + pad) + pad, cols * (w + pad) + pad}, 255, at::kByte);
  const at::Tensor q = to_uint8_images(images.to(at::kCPU));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t top = pad + (i / cols) * (h + pad), left = pad + (i % cols) * (w + pad);
    grid.narrow(1, top, h).narrow(2, left, w).copy_(q[i]);
  }
  return grid;
}

void write_image_grid(const std::string& path, const at::Tensor& images, int64_t cols, int64_t pad) {
  if (images.size(1) != 1 && images.size(1) != 3)
    fail("{}: a PNG grid needs 1 or 3 channels, the images have {}", path, images.size(1));
  write_png(path, tile_images(images, cols, pad));
}

}  // namespace dsx
