#include "pipeline/model_config.h"

#include <cmath>

#include "core/error.h"
#include "models/diagonal_gaussian.h"
#include "models/gaussian_mixture.h"
#include "models/testbeds.h"
#include "core/registry.h"

namespace dsx {
namespace {

// means: nested list [K][...] of numbers → tensor; the nesting defines the sample shape.
at::Tensor nested_to_tensor(const YamlSource& src, const YAML::Node& n, const std::string& key_path) {
  std::vector<double> flat;
  std::vector<int64_t> shape;
  std::function<void(const YAML::Node&, size_t)> walk = [&](const YAML::Node& node, size_t depth) {
    if (node.IsSequence()) {
      if (shape.size() <= depth) shape.push_back(int64_t(node.size()));
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
OptionSpec required(OptionSpec s) {
  s.required = true;
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
    std::string file = src.resolve_path(r.get_string("file"), r.path("file"));
    m = GaussianMixture::load_h5(file, smin, smax);
  } else {
    if (!r.has("means")) fail("{}: model needs 'file' (HDF5) or inline 'means', 'stds', 'weights'", r.where("means"));
    at::Tensor means = nested_to_tensor(src, r.node("means"), r.path("means"));
    if (means.dim() == 1) means = means.unsqueeze(1);  // K scalars = K one-dimensional components
    at::Tensor stds = at::tensor(r.get_doubles("stds"), at::kDouble);
    at::Tensor weights = r.has("weights") ? at::tensor(r.get_doubles("weights"), at::kDouble)
                                          : at::ones({means.size(0)}, at::kDouble);
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
       {kind_key(), required(opt::number_list("mean", "", "the mean, a nested list whose nesting is the shape")),
        required(opt::number_list("std", "", "the standard deviation, same shape as mean")), sigma_min_key(),
        sigma_max_key()},
       load_diagonal_gaussian},
      {"amed_toy",
       "the 3×8×8 Gaussian toy of the official AMED golden values (docs/amed.md §12.1)",
       {kind_key(), sigma_min_key(), sigma_max_key()},
       load_amed_toy},
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
