#pragma once
// Seed lists as users write them: "0-63", "5", "0-9,20-29", or YAML lists of integers.
#include <cstdint>
#include <string>
#include <vector>

namespace dsx {

std::vector<int64_t> parse_seed_ranges(const std::string& text);

}  // namespace dsx
