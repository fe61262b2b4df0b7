#pragma once
// Where this process sits in a multi-process run: its rank among `size` processes, its rank on its node
// (which GPU it takes) and where rank 0's rendezvous store listens. Read from the launcher conventions
// PyTorch users already have: torchrun's RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT, or
// Slurm's SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID (srun) with MASTER_ADDR / MASTER_PORT exported by the
// batch script. Nothing set: one process.
#include <string>

namespace dsx::dist {

constexpr int kDefaultMasterPort = 29500;  // torchrun's default

struct World {
  int rank = 0, size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = kDefaultMasterPort;
  std::string launcher = "none";  // "torchrun-env" | "slurm" | "none"
  bool distributed() const { return size > 1; }
};

// Errors name the variable and its allowed range (RANK must lie in [0, WORLD_SIZE), ...).
World world_from_env();

// One GPU per local rank, chosen before CUDA starts: CUDA_VISIBLE_DEVICES becomes the LOCAL_RANK-th entry of
// its list (or LOCAL_RANK when unset), so `device: cuda` is this rank's GPU. A list of one entry (srun
// --gpus-per-task=1) is kept. Nothing for one process. Returns what it set ("" when nothing).
std::string claim_local_gpu(const World& w);

}  // namespace dsx::dist
