#include "experiments/image_fd.h"

#include <ATen/ATen.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.h"
#include "metrics/feature_stats.h"
#include "pipeline/schema.h"
#include "store/tensor_h5.h"

namespace dsx {
namespace {

const char* kOperandHelp =
    "fashion_mnist[:train|test], a samples .h5 ([N, C, H, W] in [-1, 1]), a folder of PNGs or reference "
    "statistics .npz (mu, sigma), as dsx fid reads them";

}  // namespace

const Schema& fd_features_schema() {
  static const Schema schema = {
      opt::choice("kind", {"classifier", "inception", "torchscript", "pixels"}, "classifier",
                  "classifier: dsx's train_classifier network (256-d); inception: an inception-2015-12-05.pt "
                  "TorchScript (2048-d, EDM's preprocessing); torchscript: forward(x in [-1, 1]) -> [N, F]; "
                  "pixels: the raw pixels"),
      opt::text("file", "", "the network file (relative to the spec); none for pixels"),
  };
  return schema;
}

const Schema& fd_schema() {
  static const Schema schema = {
      opt::section("features", true, "", "the feature extractor: {kind, file}"),
      opt::text("reference", "", std::string("the images the samples are compared with: ") + kOperandHelp),
      opt::text("floor", "",
                "optional data scored like the samples, as many images as the evaluated seeds: the FD a perfect "
                "sampler gets at this sample size (rows 'exact data'); same kinds as reference"),
      opt::integer("batch", 250, 1, 1 << 16, "images per feature batch (memory, not results)"),
  };
  return schema;
}

json FdSpec::key() const {
  json k = {{"features", features_kind},
            {"features_fingerprint", features_fingerprint},
            {"reference", reference_fingerprint}};
  if (floor) k["floor"] = operand_fingerprint(*floor);
  return k;  // batch is left out: features are per image
}

ImageOperand read_image_operand(MapReader& r, const std::string& key, const YamlSource& src) {
  const std::string text = r.get_string(key);
  const bool dataset = text == "fashion_mnist" || text.rfind("fashion_mnist:", 0) == 0;
  try {
    return parse_image_operand(dataset ? text : src.resolve_path(text, r.path(key)));
  } catch (const Error& e) {
    fail("{}: {}", r.where(key), e.what());
  }
}

FdSpec read_fd(MapReader& outer, const std::string& key, const YamlSource& src,
               const std::vector<int64_t>& sample_shape) {
  if (sample_shape.size() != 3 || (sample_shape[0] != 1 && sample_shape[0] != 3))
    fail("{}: fd needs a model of images [C, H, W] with 1 or 3 channels; this model's samples are [{}]",
         outer.where(key), fmt::join(sample_shape, ", "));
  const Schema& schema = fd_schema();
  MapReader r(src, outer.node(key), outer.path(key));
  r.reject_unknown(key_names(schema));
  require_keys(r, schema);
  if (!r.has("reference")) fail("{}: {} is missing 'reference' ({})", r.where("reference"), r.path(""), kOperandHelp);
  FdSpec fd;
  {
    const Schema& fs = fd_features_schema();
    MapReader f(src, r.node("features"), r.path("features"));
    f.reject_unknown(key_names(fs));
    fd.features_kind = read_choice(f, fs, "kind");
    if (f.has("file")) fd.features_file = src.resolve_path(f.get_string("file"), f.path("file"));
    try {
      fd.features_fingerprint = image_features_fingerprint(fd.features_kind, fd.features_file);
    } catch (const Error& e) {
      fail("{}: {}", f.where(f.has("file") ? "file" : "kind"), e.what());
    }
    f.finish(key_names(fs));
  }
  fd.reference = read_image_operand(r, "reference", src);
  if (r.has("floor")) {
    fd.floor = read_image_operand(r, "floor", src);
    if (fd.floor->kind == ImageOperand::Kind::Statistics)
      fail("{}: the floor needs images (it is scored like the samples), not a statistics file", r.where("floor"));
  }
  fd.batch = read_int(r, schema, "batch");
  r.finish(key_names(schema));
  fd.reference_fingerprint = operand_fingerprint(fd.reference);
  if (fd.reference.kind == ImageOperand::Kind::Folder)
    fd.reference_fingerprint += fmt::format("/channels={}", sample_shape[0]);
  return fd;
}

GaussianFit image_feature_fit(const at::Tensor& images, const ImageFeatures& features, int64_t batch) {
  MomentAccumulator moments;
  for (int64_t i = 0; i < images.size(0); i += batch)
    moments.update(features.extract(images.narrow(0, i, std::min(batch, images.size(0) - i)).to(at::kFloat)));
  return moments.fit();
}

GaussianFit cached_reference_stats(const cache::Cache& cache, const FdSpec& fd, const ImageFeatures& features,
                                   int64_t channels, const ProgressLine::Log& log) {
  if (fd.reference.kind == ImageOperand::Kind::Statistics) return read_reference_stats(fd.reference.path);
  const cache::CacheKey key =
      cache::CacheKey::of("reference_stats", 1, {{"reference", fd.reference_fingerprint}, {"channels", channels}}, {},
                          features.fingerprint, "float64/cpu");
  GaussianFit fit;
  const auto got = cache.compute_or_get(key, [&](const std::string& dir, const std::string&) {
    SummaryOptions o;
    o.batch = fd.batch;
    o.channels = channels;
    o.log = log;
    const FeatureSummary s = summarize_operand(fd.reference, features, o);
    fit = s.fit;
    write_reference_stats(dir + "/reference_stats.npz", fit);
    return cache::Cache::Computed{
        {"reference_stats.npz"},
        json{{"images", s.count}, {"reference", fd.reference.text}, {"features", features.name}}};
  });
  if (got.hit) {  // read under a shared lock, so that no writer (gc, a reset) replaces the file meanwhile
    cache::Lock reading = cache.lock(key, -1, cache::LockMode::Shared);
    fit = read_reference_stats(cache.dir(key) + "/reference_stats.npz");
  }
  return fit;
}

}  // namespace dsx
