#pragma once
// One instance of each model per process and precision. Models are stateless shared resources
// (models/denoiser.h), so every stage, sweep point and worker of a process can use the same object: a
// file is read once per process, and each (fingerprint, dtype, device) variant is converted once.
//
//   ModelPtr m = ModelPool::process().load(source_key, [&] { return read_my_model(); });  // once per key
//   ModelPtr f = ModelPool::process().in_precision(m, at::kFloat, at::kCPU);               // once per variant
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "models/denoiser.h"

namespace dsx {

class ModelPool {
 public:
  // The model `load` builds for `source_key` (what identifies the definition: kind, parameters, resolved
  // file paths), calling `load` only the first time the key is asked for.
  ModelPtr load(const std::string& source_key, const std::function<ModelPtr()>& load);
  // `model` in dtype on device: the same object when it is already there, else one shared converted copy
  // per (fingerprint, dtype, device).
  ModelPtr in_precision(const ModelPtr& model, at::ScalarType dtype, at::Device device);
  int64_t loads() const;        // calls of a `load` function so far (tests, logs)
  int64_t conversions() const;  // converted copies made so far
  static ModelPool& process();  // the per-process pool

 private:
  mutable std::mutex mutex_;
  std::map<std::string, ModelPtr> by_source_;
  std::map<std::tuple<std::string, int, std::string>, ModelPtr> variants_;
  int64_t loads_ = 0, conversions_ = 0;
};

}  // namespace dsx
