#include "models/model_pool.h"

namespace dsx {

ModelPtr ModelPool::load(const std::string& source_key, const std::function<ModelPtr()>& load) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = by_source_.find(source_key);
    if (it != by_source_.end()) return it->second;
  }
  // Loading runs outside the lock (it may read a large file); a concurrent first load of the same key keeps
  // the entry that was stored first, so every caller ends up with one object.
  ModelPtr fresh = load();
  std::lock_guard<std::mutex> lock(mutex_);
  ++loads_;
  return by_source_.emplace(source_key, std::move(fresh)).first->second;
}

ModelPtr ModelPool::in_precision(const ModelPtr& model, at::ScalarType dtype, at::Device device) {
  const ModelInfo& info = model->info();
  if (info.dtype == dtype && info.device == device) return model;
  const auto key = std::make_tuple(info.fingerprint, int(dtype), device.str());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = variants_.find(key);
    if (it != variants_.end()) return it->second;
  }
  ModelPtr copy = model->converted(dtype, device);
  std::lock_guard<std::mutex> lock(mutex_);
  ++conversions_;
  return variants_.emplace(key, std::move(copy)).first->second;
}

int64_t ModelPool::loads() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return loads_;
}

int64_t ModelPool::conversions() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return conversions_;
}

ModelPool& ModelPool::process() {
  static ModelPool pool;
  return pool;
}

}  // namespace dsx
