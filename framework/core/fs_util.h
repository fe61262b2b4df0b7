#pragma once
// Filesystem queries on user-given paths that never throw: a name the system refuses (too long, a parent
// without permission) reads as "not there", so the caller's own error — with the spec location — is what
// the user sees, not a std::filesystem_error.
#include <filesystem>
#include <system_error>

namespace dsx {

inline bool path_exists(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::exists(p, ec);
}
inline bool is_file(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec);
}
inline bool is_folder(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_directory(p, ec);
}

}  // namespace dsx
