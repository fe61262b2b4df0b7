#pragma once
// Test plumbing shared by every suite: scratch directories, running the real dsx binary, error text.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "core/error.h"
#include "core/subprocess.h"

namespace dsx::test {

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix = "dsx_test") {
    static int n = 0;
    path = std::filesystem::temp_directory_path() /
           (prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
};

struct Run {
  int code;
  std::string out;  // stdout and stderr together
};

// Runs `dsx ARGS` (the binary built with the tests) through the shell; a signal N reads as exit code 128 + N.
inline Run run_dsx(const std::string& args) {
  std::string cmd = std::string(DSX_BINARY) + " " + args + " 2>&1";
  int status = 0;
  std::string out = run_shell_capture(cmd, &status);  // the child inherits none of our HDF5 files' locks
  return {status, std::move(out)};
}

// fork + exec of `dsx ARGS` with stdout and stderr into `log`; wait_exit gives its exit code (-1: killed).
inline pid_t spawn_dsx(const std::vector<std::string>& args, const std::string& log) {
  std::fflush(nullptr);  // or the child's freopen writes our buffered output a second time
  pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    FILE* f = std::freopen(log.c_str(), "w", stdout);
    (void)f;
    ::dup2(::fileno(stdout), 2);
    std::vector<char*> argv{const_cast<char*>(DSX_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(DSX_BINARY, argv.data());
    std::_Exit(127);
  }
  return pid;
}

inline int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Corrupts one byte of a file in place (same size: only a checksum can tell).
inline void flip_byte(const std::filesystem::path& p, std::streamoff offset) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  BOOST_REQUIRE(f);
  f.seekg(offset);
  char c = 0;
  f.get(c);
  f.seekp(offset);
  f.put(char(c ^ 0x5a));
}

// The message of the dsx::Error `f` throws, or "" if it throws none.
inline std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A whole file as text ("" when it cannot be read).
inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Every file named `name` under `dir`, at any depth.
inline std::vector<std::filesystem::path> find_named(const std::filesystem::path& dir, const std::string& name) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.path().filename() == name) out.push_back(e.path());
  return out;
}

// The one run directory `dsx run --runs-dir RUNS` made (fails the test unless there is exactly one).
inline std::filesystem::path only_run_dir(const std::string& runs) {
  std::vector<std::filesystem::path> dirs;
  for (const auto& e : std::filesystem::directory_iterator(runs)) dirs.push_back(e.path());
  BOOST_REQUIRE_EQUAL(dirs.size(), 1u);
  return dirs[0];
}

// The value (last column) of the metrics.csv row that starts with `prefix`; NaN when no row does.
inline double csv_value(const std::filesystem::path& csv, const std::string& prefix) {
  std::istringstream in(slurp(csv));
  for (std::string line; std::getline(in, line);)
    if (line.rfind(prefix, 0) == 0) return std::stod(line.substr(line.rfind(',') + 1));
  return std::nan("");
}

}  // namespace dsx::test
