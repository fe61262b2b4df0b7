#include "pipeline/model_config.h"

#include <cmath>

#include "core/error.h"
#include "core/registry.h"
#include "models/diagonal_gaussian.h"
#include "models/empirical.h"
#include "models/gaussian_mixture.h"
#include "models/testbeds.h"
#include "models/torchscript.h"
#include "nets/unet_model.h"
#include "pipeline/dataset_config.h"

namespace dsx {
namespace {

// means: nested list [K][...] of numbers → tensor; the nesting defines the sample shape.
at::Tensor nested_to_tensor(const YamlSource& src, const YAML::Node& n, const std::string& key_path) {
  std::vector<double> flat;
  std::vector<int64_t> shape;
  std::function<void(const YAML::Node&, size_t)> walk = [&](const YAML::Node& node, size_t depth) {
    if (node.IsSequence()) {
      if (shape.size() <= depth)
        shape.push_back(int64_t(node.size()));
      else if (shape[depth] != int64_t(node.size()))
        fail("{}: '{}' is ragged: a list of {} entries where {} were expected", src.where(node, key_path), key_path,
             node.size(), shape[depth]);
      for (const auto& child : node) walk(child, depth + 1);
    } else {
      if (depth != shape.size()) fail("{}: '{}' mixes numbers and lists", src.where(node, key_path), key_path);
      try {
        flat.push_back(node.as<double>());
      } catch (const YAML::Exception&) {
        fail("{}: '{}' entries must be numbers", src.where(node, key_path), key_path);
      }
    }
  };
  walk(n, 0);
  return at::tensor(flat, at::kDouble).reshape(shape);
}

// The keys every model kind has.
OptionSpec kind_key() { return opt::text("kind", "", "the model kind (dsx run --explain all lists them)"); }
OptionSpec sigma_min_key() {
  return opt::number("sigma_min", 0.002, 0, 1e6, "the smallest σ the model is used at (EDM's 0.002)").exclusive_min();
}
// A key whose default is not a fixed value (shown as text by --explain).
OptionSpec unset(OptionSpec s, std::string default_text) {
  s.default_value = std::move(default_text);
  return s;
}
OptionSpec sigma_max_key() {
  return opt::number("sigma_max", 80.0, 0, 1e6, "the largest σ, where sampling starts (EDM's 80)").exclusive_min();
}

ModelPtr load_gaussian_mixture(MapReader& r, const YamlSource& src, const Schema& schema) {
  const std::vector<std::string> keys = key_names(schema);
  r.reject_unknown(keys);
  double smin = read_number(r, schema, "sigma_min"), smax = read_number(r, schema, "sigma_max");
  std::shared_ptr<GaussianMixture> m;
  if (r.has("file")) {
    for (const char* k : {"means", "stds", "weights"})
      if (r.has(k)) fail("{}: give either 'file' or inline '{}', not both", r.where(k), r.path(k));
    std::string file = r.get_input_path("file");
    m = GaussianMixture::load_h5(file, smin, smax);
  } else {
    if (!r.has("means")) fail("{}: model needs 'file' (HDF5) or inline 'means', 'stds', 'weights'", r.where("means"));
    at::Tensor means = nested_to_tensor(src, r.node("means"), r.path("means"));
    if (means.dim() == 1) means = means.unsqueeze(1);  // K scalars = K one-dimensional components
    at::Tensor stds = at::tensor(r.get_doubles("stds"), at::kDouble);
    at::Tensor weights =
        r.has("weights") ? at::tensor(r.get_doubles("weights"), at::kDouble) : at::ones({means.size(0)}, at::kDouble);
    try {
      m = std::make_shared<GaussianMixture>(means, stds, weights, smin, smax);
    } catch (const Error& e) {
      fail("{}: {}", r.where("means"), e.what());
    }
  }
  r.finish(keys);
  return m;
}

ModelPtr load_diagonal_gaussian(MapReader& r, const YamlSource& src, const Schema& schema) {
  const std::vector<std::string> keys = key_names(schema);
  r.reject_unknown(keys);
  require_keys(r, schema);
  at::Tensor mean = nested_to_tensor(src, r.node("mean"), r.path("mean"));
  at::Tensor std = nested_to_tensor(src, r.node("std"), r.path("std"));
  double smin = read_number(r, schema, "sigma_min"), smax = read_number(r, schema, "sigma_max");
  r.finish(keys);
  try {
    return std::make_shared<DiagonalGaussian>(mean, std, smin, smax);
  } catch (const Error& e) {
    fail("{}: {}", r.where("mean"), e.what());
  }
}

ModelPtr load_amed_toy(MapReader& r, const YamlSource&, const Schema& schema) {
  const std::vector<std::string> keys = key_names(schema);
  r.reject_unknown(keys);
  double smin = read_number(r, schema, "sigma_min"), smax = read_number(r, schema, "sigma_max");
  r.finish(keys);
  return testbeds::amed_toy(smin, smax);
}

// model.process of a VP network: a kind from noise_process_kinds() and that kind's keys.
std::shared_ptr<const NoiseProcess> read_process(const YamlSource& src, const YAML::Node& node,
                                                 const std::string& key_path) {
  MapReader r(src, node, key_path);
  const NoiseProcessKind& kind =
      find_entry(noise_process_kinds(), r.get_string("kind"), r.path("kind"), r.where("kind"));
  std::vector<std::string> names{"kind"};
  std::vector<OptionSpec> scalars;
  for (const auto& o : kind.options) {
    names.push_back(o.name);
    if (o.type != OptionType::NumberList) scalars.push_back(o);
  }
  r.reject_unknown(names);
  std::vector<double> betas;
  if (r.has("betas")) betas = r.get_doubles("betas");
  Options values = Options::resolve(scalars, r.rest_as_options({"kind", "betas"}), key_path + ".");
  r.finish(names);
  try {
    return kind.make(values, betas);
  } catch (const Error& e) {
    fail("{}: {}", src.where(node, key_path), e.what());
  }
}

ModelPtr load_empirical(MapReader& r, const YamlSource& src, const Schema& schema) {
  const std::vector<std::string> keys = key_names(schema);
  r.reject_unknown(keys);
  require_keys(r, schema);
  const DatasetSpec data = read_dataset(src, r.node("dataset"), r.path("dataset"));
  const double std = read_number(r, schema, "std");
  const double smin = read_number(r, schema, "sigma_min"), smax = read_number(r, schema, "sigma_max");
  const int64_t chunk = read_int(r, schema, "chunk");
  r.finish(keys);
  const std::shared_ptr<const ImageSet> images = load_dataset(data);
  return std::make_shared<EmpiricalMixture>(images->images, std, smin, smax, images->fingerprint, chunk);
}

ModelPtr load_torchscript_kind(MapReader& r, const YamlSource& src, const Schema& schema) {
  const std::vector<std::string> keys = key_names(schema);
  r.reject_unknown(keys);
  require_keys(r, schema);
  TorchScriptOptions o;
  o.file = r.get_input_path("file");
  o.output = parse_net_output(read_choice(r, schema, "output"));
  if (o.output != NetOutput::Denoised) {
    if (!r.has("process"))
      fail("{}: {} = {} needs {} ({{kind: vp_linear | vp_cosine | vp_discrete}}): the network's time input",
           r.where("output"), r.path("output"), to_string(o.output), r.path("process"));
    o.process = read_process(src, r.node("process"), r.path("process"));
  } else if (r.has("process")) {
    fail("{}: {} is for eps|x0|v networks; output: denoised is already the EDM denoiser", r.where("process"),
         r.path("process"));
  }
  if (r.has("shape"))
    for (double v : r.get_doubles("shape")) {
      if (v != std::floor(v) || v < 1 || v > 1e6)
        fail("{}: {} must be positive integers ([C, H, W])", r.where("shape"), r.path("shape"));
      o.shape.push_back(int64_t(v));
    }
  if (r.has("sigma_min")) o.sigma_min = read_number(r, schema, "sigma_min");
  if (r.has("sigma_max")) o.sigma_max = read_number(r, schema, "sigma_max");
  o.features = r.get_string("features", std::string());
  if (r.has("decoder")) o.decoder = r.get_input_path("decoder");
  o.max_batch = read_int(r, schema, "max_batch");
  if (r.has("condition")) {
    MapReader c(src, r.node("condition"), r.path("condition"));
    const Schema cs{opt::integer("num_classes", 0, 1, 1 << 20, "classes of the one-hot labels").required_key()};
    c.reject_unknown(key_names(cs));
    require_keys(c, cs);
    o.num_classes = read_int(c, cs, "num_classes");
    c.finish(key_names(cs));
  }
  r.finish(keys);
  // Models a spec names live in float64 on the CPU (references and densities use that one); runs take
  // their precision's variant from the pool.
  return in_precision(load_torchscript(o), at::kDouble, at::kCPU);  // errors name the file
}

ModelPtr load_unet_kind(MapReader& r, const YamlSource& src, const Schema& schema) {
  const std::vector<std::string> keys = key_names(schema);
  r.reject_unknown(keys);
  require_keys(r, schema);
  const std::string file = r.get_input_path("file");
  r.finish(keys);
  return in_precision(unet_denoiser(file), at::kDouble, at::kCPU);  // errors name the file
}

}  // namespace

const std::vector<ModelKind>& model_kinds() {
  static const std::vector<ModelKind> kinds = {
      {"gaussian_mixture",
       "isotropic Gaussian mixture: exact denoiser and ODE reference (file or inline)",
       {kind_key(),
        opt::path("file", "HDF5 with datasets means [K,*shape], stds [K], weights [K]; or give them inline"),
        opt::number_list("means", "", "inline component means, a nested list [K][...] whose nesting is the shape"),
        opt::number_list("stds", "", "inline component standard deviations [K]"),
        opt::number_list("weights", "equal", "inline component weights [K] (normalised)"), sigma_min_key(),
        sigma_max_key()},
       load_gaussian_mixture},
      {"diagonal_gaussian",
       "elementwise Gaussian N(mean, std²): closed-form ODE solution",
       {kind_key(), opt::number_list("mean", "", "the mean, a nested list whose nesting is the shape").required_key(),
        opt::number_list("std", "", "the standard deviation, same shape as mean").required_key(), sigma_min_key(),
        sigma_max_key()},
       load_diagonal_gaussian},
      {"amed_toy",
       "the 3×8×8 Gaussian toy of the official AMED golden values (docs/amed.md §12.1)",
       {kind_key(), sigma_min_key(), sigma_max_key()},
       load_amed_toy},
      {"empirical",
       "the exact optimal denoiser of an image dataset: equal-weight components N(image_k, std² I)",
       {kind_key(),
        opt::section("dataset", true, "",
                     "the images: {kind: fashion_mnist | hdf5 | image_folder, limit: N, ...} "
                     "(dsx run --explain dataset.KIND)"),
        opt::number("std", 0.0, 0, 10,
                    "component std in pixel units of [−1, 1]; 0 = the empirical distribution "
                    "(no density: log_likelihood needs std > 0)"),
        sigma_min_key(), sigma_max_key(),
        opt::integer("chunk", 4096, 1, 1 << 20, "images per GEMM block of the log-sum-exp (memory vs speed)")},
       load_empirical},
      {"torchscript",
       "a network saved with torch.jit.save: an EDM denoiser, or an eps|x0|v VP network (README, TorchScript models)",
       {kind_key(), opt::path("file", "the TorchScript file, relative to the config").required_key(),
        opt::choice("output", {"denoised", "eps", "x0", "v"}, "denoised",
                    "denoised: forward(x, sigma) -> D(x; σ) (EDM); eps|x0|v: forward(x, t) of a VP network"),
        opt::section("process", false, "",
                     "eps|x0|v only: {kind: vp_linear | vp_cosine | vp_discrete, ...} (dsx run --explain "
                     "process.KIND); t is the network's own time input"),
        opt::int_list("shape", "the module's img_shape", "one sample's shape, e.g. [3, 32, 32]"),
        unset(sigma_min_key(), "the module's sigma_min, else the process's, else 0.002"),
        unset(sigma_max_key(), "the module's sigma_max, else the process's, else 80"),
        opt::text("features", "",
                  "the method m(x, sigma_or_t) -> (output, feature map [B, C, 8, 8]) that feeds "
                  "AMED; without it AMED stages that need features refuse the model"),
        opt::integer("max_batch", 0, 0, 1 << 20, "split larger batches into chunks of this size (0: never)"),
        opt::path("decoder",
                  "a TorchScript forward(latents) -> images (an LDM's VAE decoder) applied to samples "
                  "before metrics and pictures; optional"),
        opt::section("condition", false, "",
                     "{num_classes: N}: a class-conditional network forward(x, sigma, class_labels [B, N]), "
                     "one-hot labels drawn per sample seed")},
       load_torchscript_kind},
      {"unet",
       "a UNet trained by dsx (the train_model stage's model.h5, or its export: file); features: the last 8×8 "
       "encoder block",
       {kind_key(), opt::path("file", "the model file, relative to the config").required_key()},
       load_unet_kind},
  };
  return kinds;
}

ModelPtr load_model(const YamlSource& src, const YAML::Node& node, const std::string& key_path) {
  MapReader r(src, node, key_path);
  const ModelKind& kind = find_entry(model_kinds(), r.get_string("kind"), "model.kind", r.where("kind"));
  // What identifies the definition: its text and where it was written (relative paths resolve there).
  YAML::Emitter text;
  text << node;
  const std::string source_key = kind.name + "@" + src.where(node, key_path) + "\n" + text.c_str();
  return ModelPool::process().load(source_key, [&] { return kind.load(r, src, kind.schema); });
}

}  // namespace dsx
