#pragma once
// Models a config can name: `model: {kind: ..., ...}`. A registry of loaders, each reading its own keys
// strictly; the testbeds themselves are defined in models/. Loaded models go through the process's
// ModelPool, so one definition is read once per process however many stages and sweep points use it.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/denoiser.h"
#include "models/model_pool.h"
#include "pipeline/schema.h"
#include "pipeline/yaml_util.h"

namespace dsx {

struct ModelKind {
  std::string name;
  std::string description;
  Schema schema;  // every key of the `model` mapping with type, default and help (dsx run --explain model.KIND)
  std::function<ModelPtr(MapReader&, const YamlSource&, const Schema&)> load;
};

const std::vector<ModelKind>& model_kinds();
// Reads the `model` mapping (kind + that kind's keys), through ModelPool::process(): the same mapping
// (same text, written at the same place) gives the same object. float64 on the CPU.
ModelPtr load_model(const YamlSource& src, const YAML::Node& node, const std::string& key_path = "model");

}  // namespace dsx
