#include "core/error.h"

#include <cmath>

namespace dsx {

void require_in_range(const std::string& name, double value, double lo, double hi) {
  if (!(value >= lo && value <= hi) || std::isnan(value))
    fail("{} = {} is out of range [{}, {}]", name, value, lo, hi);
}

}  // namespace dsx
