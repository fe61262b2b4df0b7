#include "core/error.h"

#include <cmath>

namespace dsx {

void require_in_range(const std::string& name, double value, double lo, double hi) {
  if (!(value >= lo && value <= hi) || std::isnan(value)) fail("{} = {} is out of range [{}, {}]", name, value, lo, hi);
}

void ErrorList::add(const std::string& message) {
  if (messages_.size() < kMax)
    messages_.push_back(message);
  else
    ++dropped_;
}

void ErrorList::throw_if_any() const {
  if (messages_.empty()) return;
  std::string text;
  for (const auto& m : messages_) text += (text.empty() ? "" : "\n") + m;
  if (messages_.size() > 1 || dropped_)
    text += fmt::format("\n({} errors{})", messages_.size() + dropped_,
                        dropped_ ? fmt::format(", the first {} shown", kMax) : "");
  throw Errors(text, messages_, dropped_);
}

}  // namespace dsx
