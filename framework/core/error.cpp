#include "core/error.h"

#include <cmath>

namespace dsx {

void require_in_range(const std::string& name, double value, double lo, double hi) {
  if (!(value >= lo && value <= hi) || std::isnan(value))
    fail("{} = {} is out of range [{}, {}]", name, value, lo, hi);
}

void ErrorList::add(const std::string& message) {
  // One failure may already hold several lines (a mapping with several unknown keys): count each line.
  size_t start = 0;
  while (start <= message.size()) {
    size_t end = message.find('\n', start);
    std::string line = message.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!line.empty()) {
      if (messages_.size() < kMax) messages_.push_back(line);
      else ++dropped_;
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
}

void ErrorList::throw_if_any() const {
  if (messages_.empty()) return;
  std::string text;
  for (const auto& m : messages_) text += (text.empty() ? "" : "\n") + m;
  if (messages_.size() > 1 || dropped_) text += fmt::format("\n({} errors{})", messages_.size() + dropped_,
                                                            dropped_ ? fmt::format(", the first {} shown", kMax) : "");
  throw Error(text);
}

}  // namespace dsx
