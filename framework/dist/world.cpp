#include "dist/world.h"

#include <cstdlib>
#include <optional>
#include <vector>

#include "core/error.h"

namespace dsx::dist {
namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

int env_int(const char* name, int lo, int hi) {
  const std::string text = *env(name);
  size_t used = 0;
  long v = 0;
  try {
    v = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || v < lo || v > hi)
    fail("environment variable {}={} is out of range: expected an integer in [{}, {}]", name, text, lo, hi);
  return int(v);
}

}  // namespace

World world_from_env() {
  World w;
  constexpr int kMaxRanks = 1 << 16;
  if (env("WORLD_SIZE") || env("RANK")) {
    if (!env("WORLD_SIZE") || !env("RANK"))
      fail("environment: RANK and WORLD_SIZE must be set together (torchrun conventions)");
    w.launcher = "torchrun-env";
    w.size = env_int("WORLD_SIZE", 1, kMaxRanks);
    w.rank = env_int("RANK", 0, w.size - 1);
    w.local_rank = env("LOCAL_RANK") ? env_int("LOCAL_RANK", 0, w.size - 1) : w.rank;
  } else if (env("SLURM_NTASKS") && env("SLURM_PROCID")) {
    w.launcher = "slurm";
    w.size = env_int("SLURM_NTASKS", 1, kMaxRanks);
    w.rank = env_int("SLURM_PROCID", 0, w.size - 1);
    w.local_rank = env("SLURM_LOCALID") ? env_int("SLURM_LOCALID", 0, w.size - 1) : 0;
  } else {
    return w;
  }
  if (w.size > 1 && !env("MASTER_ADDR") && w.launcher == "slurm")
    fail(
        "environment: SLURM_NTASKS={} but MASTER_ADDR is not set: export the first node's address, e.g. "
        "MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)",
        w.size);
  if (auto a = env("MASTER_ADDR")) w.master_addr = *a;
  if (env("MASTER_PORT")) w.master_port = env_int("MASTER_PORT", 1, 65535);
  return w;
}

std::string claim_local_gpu(const World& w) {
  if (!w.distributed()) return "";
  std::vector<std::string> visible;
  if (auto v = env("CUDA_VISIBLE_DEVICES")) {
    std::string item;
    for (char c : *v + ",")
      if (c == ',') {
        if (!item.empty()) visible.push_back(item);
        item.clear();
      } else {
        item += c;
      }
    if (visible.size() <= 1) return "";  // the launcher gave this rank its GPU (or none)
  }
  const std::string mine = visible.empty()                         ? std::to_string(w.local_rank)
                           : size_t(w.local_rank) < visible.size() ? visible[size_t(w.local_rank)]
                                                                   : std::string("none");
  ::setenv("CUDA_VISIBLE_DEVICES", mine.c_str(), 1);
  return mine;
}

}  // namespace dsx::dist
