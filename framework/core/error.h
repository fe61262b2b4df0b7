#pragma once
// Errors carry their context in the message: "where: what". Every user-facing failure (bad spec value,
// missing dataset, NaN from a model) is a dsx::Error so the CLI can print it and exit non-zero.
#include <stdexcept>
#include <string>
#include <vector>

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

// Collects the errors of independent checks so that a user sees all of them at once, as a compiler reports
// them: run each check through capture(); throw_if_any() throws one Error whose message is the first
// kMax errors, one per line, in the order found (a single error reads exactly as if thrown alone).
// The Error thrown by ErrorList::throw_if_any (what() is the whole text; the parts stay available).
class Errors : public Error {
 public:
  Errors(const std::string& text, std::vector<std::string> messages, size_t dropped)
      : Error(text), messages_(std::move(messages)), dropped_(dropped) {}
  const std::vector<std::string>& messages() const { return messages_; }
  size_t dropped() const { return dropped_; }

 private:
  std::vector<std::string> messages_;
  size_t dropped_;
};

class ErrorList {
 public:
  static constexpr size_t kMax = 20;
  template <typename F>
  void capture(F&& check) {
    try {
      check();
    } catch (const Errors& e) {  // a nested list: its errors join this one, its count line does not
      for (const auto& m : e.messages()) add(m);
      dropped_ += e.dropped();
    } catch (const Error& e) {
      add(e.what());
    }
  }
  void add(const std::string& message);
  bool empty() const { return messages_.empty(); }
  void throw_if_any() const;

 private:
  std::vector<std::string> messages_;
  size_t dropped_ = 0;
};

// "name = value is out of range [lo, hi]" for a numeric parameter.
void require_in_range(const std::string& name, double value, double lo, double hi);

}  // namespace dsx
