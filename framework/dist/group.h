#pragma once
// The process group of a multi-process run: PyTorch's c10d (a TCPStore served by rank 0 for the rendezvous,
// ProcessGroupGloo for the collectives on CPU tensors, ProcessGroupNCCL for CUDA tensors on CUDA builds). Collectives
// are blocking and every rank must call them in the same order; a rank that dies makes the others' next collective fail
// at once (its sockets close), a rank that hangs makes it fail after `timeout`.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dist/world.h"

namespace at {
class Tensor;
}

namespace dsx::dist {

class Group {
 public:
  // Joins: rank 0 serves the store at master_addr:master_port; every rank waits up to `timeout` for the others.
  Group(const World& world, std::chrono::milliseconds timeout);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int rank() const { return world_.rank; }
  int size() const { return world_.size; }
  const World& world() const { return world_; }
  // How long a rank waits for the others (collectives, and the locks another rank may hold), in seconds.
  double timeout_seconds() const { return timeout_s_; }

  void barrier();
  // Every rank's string, in rank order (any lengths).
  std::vector<std::string> all_gather(const std::string& mine);
  // Every rank says how its part went ("" = fine); if any failed, every rank throws, naming the first failed
  // rank and its message. Called after a shared piece of work and before its results are exchanged, so no
  // rank waits in a collective for one that has given up.
  void raise_any(const std::string& my_error, const std::string& what);
  // root's string on every rank.
  std::string broadcast(const std::string& s, int root);
  // In place, contiguous; the same shape, dtype and device kind on every rank. CPU tensors travel over Gloo,
  // CUDA tensors over NCCL when dsx was built against a CUDA LibTorch with nccl.h (has_nccl()), else over
  // Gloo through a host copy.
  void broadcast(at::Tensor& t, int root);
  void all_reduce_sum(at::Tensor& t);
  static bool has_nccl();

  // A point-to-all message through the rendezvous store, for waits of unbounded length (other ranks wait
  // while rank 0 runs a serial stage for hours, or waits for a concurrent run's lock): `await` polls until
  // some rank has posted `key` and returns its value; it fails at once when the store's server (rank 0) is
  // gone. Each key is posted once per run.
  void post(const std::string& key, const std::string& value = "1");
  std::string await(const std::string& key);

  // A name for the next coordination point of a kind ("reference/0", "reference/1", ...): the ranks reach
  // them in the same order, so they agree on the names without talking.
  std::string next_tag(const std::string& kind) { return kind + "/" + std::to_string(tags_++); }

  // Bytes this rank has put into collectives so far (tensor payloads; the measure of a stage's traffic).
  uint64_t bytes_sent() const { return bytes_; }

 private:
  struct Impl;
  template <class Collective>
  void on_backend(at::Tensor& t, const char* what, Collective collective);
  World world_;
  std::unique_ptr<Impl> impl_;
  uint64_t bytes_ = 0;
  double timeout_s_ = 0;
  uint64_t tags_ = 0;
};

}  // namespace dsx::dist
