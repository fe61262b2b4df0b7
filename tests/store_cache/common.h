#pragma once
// Helpers of the cache suites: scratch directories, byte flips, running the real dsx binary.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "support/scratch.h"

namespace dsx::test {
namespace fs = std::filesystem;

inline void flip_byte(const fs::path& p, std::streamoff offset) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  BOOST_REQUIRE(f);
  f.seekg(offset);
  char c = 0;
  f.get(c);
  f.seekp(offset);
  f.put(char(c ^ 0x5a));
}

inline std::vector<fs::path> files_matching(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  for (auto& e : fs::recursive_directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && name.find(".tmp.") == std::string::npos) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace dsx::test
