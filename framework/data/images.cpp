#include "data/images.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/fs_util.h"
#include "core/hash.h"
#include "data/idx.h"
#include "data/png_io.h"
#include "store/h5.h"
#include "store/tensor_h5.h"

namespace dsx {
namespace fs = std::filesystem;

namespace {

// Bytes 0..255 → [−1, 1], the DDPM/EDM convention.
at::Tensor from_bytes(const at::Tensor& u8) { return u8.to(at::kFloat).div_(127.5).sub_(1.0); }

ImageSet fashion_mnist(const Options& o) {
  const std::string root = o.get_string("root"), split = o.get_string("split");
  const std::string prefix = split == "train" ? "train" : "t10k";
  const fs::path images = fs::path(root) / (prefix + "-images-idx3-ubyte.gz");
  const fs::path labels = fs::path(root) / (prefix + "-labels-idx1-ubyte.gz");
  for (const fs::path& p : {images, labels})
    if (!path_exists(p))
      fail(
          "{}: not found: Fashion-MNIST comes with the Debian package dataset-fashion-mnist "
          "(apt-get install dataset-fashion-mnist), or set dataset.root to a folder holding the IDX files",
          p.string());
  at::Tensor x = read_idx_gz(images.string());
  at::Tensor y = read_idx_gz(labels.string());
  if (x.dim() != 3 || y.dim() != 1 || x.size(0) != y.size(0))
    fail("{}: {} images of shape {} but {} labels", root, x.size(0), c10::str(x.sizes()), y.size(0));
  const int64_t pad = o.get_int("pad");  // 28 → 32 with pad 2: the UNet's 8×8 bottleneck after two halvings
  at::Tensor img = from_bytes(x).unsqueeze(1);
  if (pad > 0) img = at::constant_pad_nd(img, {pad, pad, pad, pad}, -1.0);  // background is black = −1
  ImageSet s;
  s.images = img.contiguous();
  s.labels = y.to(at::kLong);
  s.description = "fashion_mnist " + split;
  return s;
}

ImageSet hdf5_images(const Options& o) {
  const std::string file = o.get_string("file"), name = o.get_string("dataset");
  h5::File f = h5::File::open(file);
  if (!f.has(name)) fail("{}: dataset '{}' not found (dataset.dataset names the [N, C, H, W] images)", file, name);
  const h5::DatasetInfo info = f.info(name);
  if (info.shape.size() != 4)
    fail("{}: dataset '{}' has shape {}: expected [N, C, H, W]", file, name, c10::str(at::IntArrayRef(info.shape)));
  at::Tensor raw = h5::read_tensor(f, name, at::kFloat);  // HDF5 converts integer pixels
  std::string scale = o.get_string("scale");
  if (scale == "auto") scale = info.dtype == h5::DType::Int64 ? "byte" : "none";
  ImageSet s;
  s.images = (scale == "byte" ? raw / 127.5 - 1 : scale == "unit" ? raw * 2 - 1 : raw).contiguous();
  const std::string labels = o.has("labels") ? o.get_string("labels") : "";
  if (!labels.empty()) {
    if (!f.has(labels)) fail("{}: labels dataset '{}' not found", file, labels);
    s.labels = h5::read_tensor(f, labels).to(at::kLong).reshape({-1});
    if (s.labels.size(0) != s.images.size(0))
      fail("{}: {} labels for {} images", file, s.labels.size(0), s.images.size(0));
  }
  s.description = "hdf5 " + file + ":" + name;
  return s;
}

ImageSet image_folder(const Options& o) {
  const std::string dir = o.get_string("dir");
  const int channels = int(o.get_int("channels"));
  if (!is_folder(dir)) fail("{}: not a folder", dir);
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (e.is_regular_file() && ext == ".png") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) fail("{}: no .png files", dir);
  std::vector<at::Tensor> images;
  for (const auto& p : files) {
    images.push_back(read_png(p.string(), channels));
    if (images.back().sizes() != images.front().sizes())
      fail("{}: size {} differs from {} of {}", p.string(), c10::str(images.back().sizes()),
           c10::str(images.front().sizes()), files.front().string());
  }
  ImageSet s;
  s.images = from_bytes(at::stack(images));
  s.description = "image_folder " + dir;
  return s;
}

}  // namespace

const std::vector<DatasetKind>& dataset_kinds() {
  static const std::vector<DatasetKind> kinds = {
      {"fashion_mnist",
       "Fashion-MNIST (Debian's dataset-fashion-mnist): 1×28×28 clothing images in 10 classes, padded",
       {opt::choice("split", {"train", "test"}, "train", "train: 60 000 images, test: 10 000"),
        opt::integer("pad", 2, 0, 64, "border of background (−1) added on each side: 2 gives 32×32"),
        opt::text("root", kFashionMnistDir, "the folder of the four IDX .gz files")},
       fashion_mnist},
      {"hdf5",
       "a [N, C, H, W] dataset of an HDF5 file (uint8 0..255, or floats)",
       {opt::path("file", "the HDF5 file, relative to the config").required_key(),
        opt::text("dataset", "images", "the images dataset"),
        opt::text("labels", "", "an [N] integer labels dataset, optional"),
        opt::choice("scale", {"auto", "byte", "unit", "none"}, "auto",
                    "byte: 0..255, unit: 0..1, none: already −1..1; auto: byte for integers, none for floats")},
       hdf5_images},
      {"image_folder",
       "the PNG files of a folder, in name order, all of one size",
       {opt::path("dir", "the folder, relative to the config").required_key(),
        opt::integer("channels", 3, 1, 3, "1 = grey, 3 = RGB (libpng converts each file)")},
       image_folder},
  };
  return kinds;
}

ImageSet load_images(const DatasetKind& kind, const Options& options, int64_t limit) {
  ImageSet s = kind.load(options);
  if (limit > 0 && limit < s.size()) {
    s.images = s.images.narrow(0, 0, limit).contiguous();
    if (s.labels.defined()) s.labels = s.labels.narrow(0, 0, limit).contiguous();
  }
  if (s.size() == 0) fail("{}: no images", s.description);
  Hasher h;
  h.update(std::string("images/v1"));
  for (int64_t d : s.images.sizes()) h.update(&d, sizeof d);
  h.update(s.images.data_ptr<float>(), size_t(s.images.numel()) * sizeof(float));
  if (s.labels.defined()) h.update(s.labels.data_ptr<int64_t>(), size_t(s.labels.numel()) * sizeof(int64_t));
  s.fingerprint = h.hex();
  s.description += fmt::format(": {} × {}", s.size(), c10::str(at::IntArrayRef(s.sample_shape())));
  return s;
}

}  // namespace dsx
