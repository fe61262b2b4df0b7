#include "metrics/image_distance.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/fs_util.h"
#include "core/hash.h"
#include "data/images.h"
#include "store/cache.h"
#include "store/h5.h"
#include "store/tensor_h5.h"

namespace fs = std::filesystem;

namespace dsx {
namespace {

bool has_extension(const std::string& path, std::initializer_list<const char*> exts) {
  std::string e = fs::path(path).extension().string();
  std::transform(e.begin(), e.end(), e.begin(), ::tolower);
  for (const char* x : exts)
    if (e == x) return true;
  return false;
}

// The `samples` dataset's shape, checked.
std::vector<int64_t> samples_shape(const std::string& path) {
  h5::File f = h5::File::open(path);
  if (!f.has("samples")) fail("{}: no dataset 'samples' (a dsx sample file holds samples [N, C, H, W])", path);
  std::vector<int64_t> shape = f.info("samples").shape;
  if (shape.size() != 4) fail("{}: 'samples' must be [N, C, H, W] images, has {} dimension(s)", path, shape.size());
  return shape;
}

ImageSet load_set(const ImageOperand& op, int64_t channels) {
  if (op.kind == ImageOperand::Kind::Dataset) {
    const DatasetKind& kind = dataset_kinds().front();  // fashion_mnist
    return load_images(kind, Options::resolve(kind.options, {{"split", {op.path, op.text}}}, "dataset "));
  }
  for (const DatasetKind& kind : dataset_kinds())
    if (kind.name == "image_folder")
      return load_images(
          kind, Options::resolve(kind.options,
                                 {{"dir", {op.path, op.text}}, {"channels", {std::to_string(channels), op.text}}},
                                 "folder "));
  fail("internal: no image_folder dataset kind");
}

}  // namespace

ImageOperand parse_image_operand(const std::string& text) {
  ImageOperand op;
  op.text = text;
  if (text == "fashion_mnist" || text.rfind("fashion_mnist:", 0) == 0) {
    op.kind = ImageOperand::Kind::Dataset;
    op.path = text == "fashion_mnist" ? "test" : text.substr(14);
    if (op.path != "train" && op.path != "test") fail("{}: the Fashion-MNIST split must be train or test", text);
    return op;
  }
  op.path = text;
  if (is_folder(text)) {
    op.kind = ImageOperand::Kind::Folder;
  } else if (has_extension(text, {".npz"})) {
    op.kind = ImageOperand::Kind::Statistics;
  } else if (has_extension(text, {".h5", ".hdf5"})) {
    op.kind = ImageOperand::Kind::Samples;
  } else {
    fail("{}: not a sample file (.h5/.hdf5), a folder of PNGs, reference statistics (.npz) or fashion_mnist[:split]",
         text);
  }
  if (!path_exists(text)) fail("{}: no such file or folder", text);
  return op;
}

std::string operand_fingerprint(const ImageOperand& op) {
  Hasher h;
  h.update("image_operand/v1");
  switch (op.kind) {
    case ImageOperand::Kind::Dataset: h.update("fashion_mnist").update(op.path); break;  // Debian's fixed files
    case ImageOperand::Kind::Folder: {
      std::vector<std::string> pngs;
      for (const auto& e : fs::directory_iterator(op.path))
        if (e.is_regular_file() && has_extension(e.path().string(), {".png"})) pngs.push_back(e.path().string());
      std::sort(pngs.begin(), pngs.end());  // the folder reader's order
      for (const auto& p : pngs) h.update(fs::path(p).filename().string()).update(cache::file_checksum(p));
      break;
    }
    default: h.update(cache::file_checksum(op.path));
  }
  return h.hex();
}

int64_t operand_channels(const ImageOperand& op) {
  switch (op.kind) {
    case ImageOperand::Kind::Samples: return samples_shape(op.path)[1];
    case ImageOperand::Kind::Dataset: return 1;
    default: return 0;
  }
}

at::Tensor read_operand_images(const ImageOperand& op, int64_t count, int64_t channels) {
  switch (op.kind) {
    case ImageOperand::Kind::Statistics: fail("{}: a statistics file holds no images", op.text);
    case ImageOperand::Kind::Samples: {
      const int64_t n = samples_shape(op.path)[0];
      return h5::read_rows(h5::File::open(op.path), "samples", 0, count > 0 ? std::min(count, n) : n);
    }
    default: {
      const ImageSet set = load_set(op, channels);
      return set.images.narrow(0, 0, count > 0 ? std::min(count, set.size()) : set.size());
    }
  }
}

FeatureSummary summarize_operand(const ImageOperand& op, const ImageFeatures& features, const SummaryOptions& o) {
  FeatureSummary s;
  if (op.kind == ImageOperand::Kind::Statistics) {
    s.fit = read_reference_stats(op.path);
    s.description = op.path + ": reference statistics, " + std::to_string(s.fit.mean.size(0)) + " features";
    return s;
  }
  MomentAccumulator moments;
  FeatureBank bank;
  auto add = [&](const at::Tensor& images) {
    const at::Tensor f = features.extract(images);
    moments.update(f);
    if (o.keep_features) bank.update(f);
  };
  std::unique_ptr<ProgressLine> progress;
  auto run = [&](int64_t n, const std::function<at::Tensor(int64_t, int64_t)>& batch_at) {
    if (o.log) progress = std::make_unique<ProgressLine>("features " + op.text, "images", n, o.log);
    for (int64_t i = 0; i < n; i += o.batch) {
      const int64_t b = std::min(o.batch, n - i);
      add(batch_at(i, b));
      if (progress) progress->advance(b);
    }
    if (progress) progress->finish();
  };
  if (op.kind == ImageOperand::Kind::Samples) {
    const std::vector<int64_t> shape = samples_shape(op.path);
    h5::File f = h5::File::open(op.path);
    run(shape[0], [&](int64_t first, int64_t count) { return h5::read_rows(f, "samples", first, count); });
    s.count = shape[0];
    s.channels = shape[1];
    s.description = op.path + ": " + std::to_string(shape[0]) + " samples";
  } else {
    const ImageSet set = load_set(op, o.channels);
    run(set.size(), [&](int64_t first, int64_t count) { return set.images.narrow(0, first, count); });
    s.count = set.size();
    s.channels = set.images.size(1);
    s.description = set.description;
  }
  if (s.count < 2) fail("{}: needs at least 2 images, has {}", op.text, s.count);
  s.fit = moments.fit();
  if (o.keep_features) s.features = bank.all();
  return s;
}

}  // namespace dsx
