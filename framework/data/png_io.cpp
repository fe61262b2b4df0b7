#include "data/png_io.h"

#include <png.h>

#include <cstring>

#include "core/error.h"

namespace dsx {

at::Tensor read_png(const std::string& path, int channels) {
  if (channels != 1 && channels != 3) fail("read_png: channels must be 1 or 3, got {}", channels);
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_file(&img, path.c_str())) fail("{}: not a readable PNG ({})", path, img.message);
  img.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  at::Tensor hwc = at::empty({int64_t(img.height), int64_t(img.width), channels}, at::kByte);
  if (!png_image_finish_read(&img, nullptr, hwc.data_ptr<uint8_t>(), 0, nullptr)) {
    std::string why = img.message;
    png_image_free(&img);
    fail("{}: cannot decode PNG ({})", path, why);
  }
  return hwc.permute({2, 0, 1}).contiguous();
}

void write_png(const std::string& path, const at::Tensor& image) {
  if (image.dim() != 3 || (image.size(0) != 1 && image.size(0) != 3) || image.scalar_type() != at::kByte)
    fail("write_png: expected a [1 or 3, H, W] uint8 image, got {} {}", c10::str(image.sizes()),
         c10::toString(image.scalar_type()));
  at::Tensor hwc = image.permute({1, 2, 0}).contiguous().cpu();
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = png_uint_32(image.size(2));
  img.height = png_uint_32(image.size(1));
  img.format = image.size(0) == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  if (!png_image_write_to_file(&img, path.c_str(), 0, hwc.data_ptr<uint8_t>(), 0, nullptr))
    fail("{}: cannot write PNG ({})", path, img.message);
}

}  // namespace dsx
