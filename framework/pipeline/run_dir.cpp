#include "pipeline/run_dir.h"

#include <ATen/Parallel.h>
#include <hdf5.h>
#include <oneapi/tbb/info.h>
#include <oneapi/tbb/version.h>
#include <torch/version.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "core/error.h"

namespace dsx {
namespace fs = std::filesystem;
namespace {
std::mutex log_mutex;
}

void write_text(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) fail("cannot write '{}'", tmp);
    f << text;
  }
  fs::rename(tmp, path);
}

RunDir RunDir::create(const std::string& root, const std::string& name, const std::string& spec_path,
                      const std::string& resolved_yaml) {
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", std::gmtime(&now));
  fs::create_directories(root);
  std::string base = fs::path(root) / (std::string(stamp) + "-" + name);
  std::string path = base;
  // create_directory is the atomic claim: two runs started in the same second get two directories.
  for (int i = 1; !fs::create_directory(path); ++i) path = base + "-" + std::to_string(i);
  RunDir r{path};
  fs::copy_file(spec_path, r.file("spec.yaml"));
  write_text(r.file("resolved.yaml"), resolved_yaml);
  return r;
}

void RunDir::log(const std::string& line) const {
  std::lock_guard<std::mutex> g(log_mutex);
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", std::gmtime(&now));
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
  if (path.empty()) return;
  std::ofstream f(file("run.log"), std::ios::app);
  f << stamp << " " << line << "\n";
}

nlohmann::json env_info(const std::string& device) {
  unsigned maj = 0, min = 0, rel = 0;
  H5get_libversion(&maj, &min, &rel);
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return {{"dsx", "0.1.0"},
          {"libtorch", TORCH_VERSION},
          {"onetbb", TBB_VERSION_STRING},
          {"hdf5", fmt::format("{}.{}.{}", maj, min, rel)},
          {"compiler", __VERSION__},
          {"torch_threads", at::get_num_threads()},
          {"tbb_concurrency", tbb::info::default_concurrency()},
          {"hardware_threads", std::thread::hardware_concurrency()},
          {"device", device},
          {"host", host}};
}

}  // namespace dsx
