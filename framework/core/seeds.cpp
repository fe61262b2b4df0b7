#include "core/seeds.h"

#include <sstream>

#include "core/error.h"

namespace dsx {

std::vector<int64_t> parse_seed_ranges(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    try {
      size_t dash = part.find('-', 1);
      size_t used = 0;
      if (dash == std::string::npos) {
        int64_t v = std::stoll(part, &used);
        if (used != part.size() || v < 0) throw std::invalid_argument(part);
        out.push_back(v);
      } else {
        std::string a = part.substr(0, dash), b = part.substr(dash + 1);
        size_t ua = 0, ub = 0;
        int64_t lo = std::stoll(a, &ua), hi = std::stoll(b, &ub);
        if (ua != a.size() || ub != b.size() || lo < 0 || hi < lo) throw std::invalid_argument(part);
        for (int64_t s = lo; s <= hi; ++s) out.push_back(s);
      }
    } catch (const std::exception&) {
      fail("seeds '{}': '{}' is not a seed or an increasing range like 0-63 (seeds are >= 0)", text, part);
    }
  }
  if (out.empty()) fail("seeds '{}': no seeds given", text);
  return out;
}

}  // namespace dsx
