#pragma once
// Modules draw their initial weights from LibTorch's global generator, and stages run concurrently in one
// process (the TBB graph): seeding it and constructing must be one step under one lock, or two training
// stages interleave their draws and a rerun that runs one of them alone (after a kill, say) gets other
// initial weights. Every seeded construction goes through here.
#include <cstdint>
#include <mutex>

#include <ATen/Context.h>

namespace dsx {

inline std::mutex& global_generator_mutex() {
  static std::mutex m;
  return m;
}

// make() under the lock, right after at::manual_seed(seed); returns what it returns.
template <class Make>
auto seeded(uint64_t seed, Make&& make) {
  std::lock_guard<std::mutex> hold(global_generator_mutex());
  at::manual_seed(seed);
  return make();
}

}  // namespace dsx
