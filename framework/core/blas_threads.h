#pragma once
// The BLAS's own thread pool, sized with LibTorch's intra-op threads.
//
// Debian's LibTorch calls BLAS through the libblas.so.3 alternative (OpenBLAS, pthreads build, by default),
// which starts one thread per core for a large enough GEMM whatever at::set_num_threads says. So `--threads
// 1` still ran the metrics' GEMMs on both cores, and two TBB workers each calling a two-thread GEMM spent 9%
// of an evaluation in sched_yield. One level of parallelism means sizing this pool too.
//
// The pool is one per process, while LibTorch's count is per thread, and stages run side by side: so scopes
// do not set and restore it (the first stage to finish would undo the other's setting) but state what they
// need, and the pool follows from every scope alive: one thread while any scope of several workers runs,
// else the largest of the base (`--threads`) and the scopes that raise it.
namespace dsx {

// The base size (`--threads`); applied unless a scope says otherwise. Does nothing for a BLAS other than
// OpenBLAS (found at run time, so any BLAS links).
void set_blas_threads(int threads);
// OpenBLAS's threads now, or 0 when the BLAS is not OpenBLAS.
int blas_threads();

// A scope's need: 1 (several workers each call the BLAS) or more (a serial part that may use the cores).
class BlasThreads {
 public:
  explicit BlasThreads(int threads);
  ~BlasThreads();
  BlasThreads(const BlasThreads&) = delete;
  BlasThreads& operator=(const BlasThreads&) = delete;

 private:
  int threads_;
};

}  // namespace dsx
