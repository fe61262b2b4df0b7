#pragma once
// Content hashes (XXH3-128, hex) for model fingerprints and cache keys.
#include <cstddef>
#include <string>

namespace dsx {

class Hasher {
 public:
  Hasher();
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  Hasher& update(const void* data, size_t bytes);
  Hasher& update(const std::string& s);  // length-prefixed, so ("ab","c") != ("a","bc")
  std::string hex() const;               // 32 hex digits

 private:
  void* state_;
};

std::string hash_hex(const std::string& s);

}  // namespace dsx
