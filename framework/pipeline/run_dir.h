#pragma once
// The run directory of `dsx run`: runs/<UTC time>-<name>/ with the spec as given, the resolved spec, env
// info, the log and what the report stage publishes (metrics.csv, summary.json, report.md, plots).
#include <fstream>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace dsx {

struct RunDir {
  std::string path;
  // Creates <root>/<UTC yyyymmddTHHMMSSZ>-<name>/ (a numeric suffix if it exists) and copies the spec.
  static RunDir create(const std::string& root, const std::string& name, const std::string& spec_path,
                       const std::string& resolved_yaml);
  std::string file(const std::string& name) const { return path + "/" + name; }
  // Appends a line to run.log and prints it on stdout (thread safe).
  void log(const std::string& line) const;
};

// Versions (dsx, LibTorch, oneTBB, yaml-cpp, HDF5), threads, device, host.
nlohmann::json env_info(const std::string& device);

// Writes text to path via a temp file + rename.
void write_text(const std::string& path, const std::string& text);

}  // namespace dsx
