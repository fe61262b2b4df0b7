#pragma once
// Errors carry their context in the message: "where: what". Every user-facing failure (bad spec value,
// missing dataset, NaN from a model) is a dsx::Error so the CLI can print it and exit non-zero.
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace dsx {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

// "name = value is out of range [lo, hi]" for a numeric parameter.
void require_in_range(const std::string& name, double value, double lo, double hi);

}  // namespace dsx
