#pragma once
// Models a config can name: `model: {kind: ..., ...}`. A registry of loaders, each reading its own keys
// strictly. Models that know their exact ODE solution also expose it (ExactOde) for error metrics.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/denoiser.h"
#include "pipeline/yaml_util.h"

namespace dsx {

struct LoadedModel {
  std::shared_ptr<Denoiser> model;
  const ExactOde* exact = nullptr;       // points into model when it has an exact solution
  const DataSampler* data = nullptr;     // points into model when it can sample its data distribution
};

struct ModelKind {
  std::string name;
  std::string description;
  std::function<LoadedModel(MapReader&, const YamlSource&)> load;
};

const std::vector<ModelKind>& model_kinds();
// Reads the `model` mapping (kind + that kind's keys).
LoadedModel load_model(const YamlSource& src, const YAML::Node& node, const std::string& key_path = "model");

}  // namespace dsx
