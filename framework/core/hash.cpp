#include "core/hash.h"

#include <cstdint>

#include <fmt/format.h>
#include <xxhash.h>

namespace dsx {

Hasher::Hasher() : state_(XXH3_createState()) { XXH3_128bits_reset(static_cast<XXH3_state_t*>(state_)); }
Hasher::~Hasher() { XXH3_freeState(static_cast<XXH3_state_t*>(state_)); }

Hasher& Hasher::update(const void* data, size_t bytes) {
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), data, bytes);
  return *this;
}

Hasher& Hasher::update(const std::string& s) {
  uint64_t n = s.size();
  update(&n, sizeof n);
  return update(s.data(), s.size());
}

std::string Hasher::hex() const {
  XXH128_hash_t h = XXH3_128bits_digest(static_cast<XXH3_state_t*>(state_));
  return fmt::format("{:016x}{:016x}", h.high64, h.low64);
}

std::string hash_hex(const std::string& s) { return Hasher().update(s).hex(); }

}  // namespace dsx
