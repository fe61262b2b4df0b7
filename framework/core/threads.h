#pragma once
// How many threads compute: LibTorch's intra-op pool (OpenMP; per calling thread) and the BLAS's (process-wide),
// kept together so that one level of parallelism holds (core/blas_threads.h says why the BLAS needs it).
#include <ATen/Parallel.h>

#include <optional>

#include "core/blas_threads.h"

namespace dsx {

// LibTorch's intra-op threads (for the calling thread, under OpenMP) and the BLAS's base size (process-wide).
inline void set_compute_threads(int threads) {
  at::set_num_threads(threads);
  set_blas_threads(threads);
}

// At least `threads` LibTorch intra-op and BLAS threads for a scope: the serial part of a stage (the reference solve
// before evaluate's items) gets the cores its `workers` would use, one level of parallelism as the workers are
// not running yet.
class IntraOpThreads {
 public:
  explicit IntraOpThreads(int threads) : saved_(at::get_num_threads()) {
    if (threads <= saved_) return;
    at::set_num_threads(threads);
    blas_.emplace(threads);
  }
  ~IntraOpThreads() { at::set_num_threads(saved_); }
  IntraOpThreads(const IntraOpThreads&) = delete;
  IntraOpThreads& operator=(const IntraOpThreads&) = delete;

 private:
  int saved_;
  std::optional<BlasThreads> blas_;
};

}  // namespace dsx
