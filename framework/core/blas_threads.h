#pragma once
// The BLAS's own thread pool, sized with LibTorch's intra-op threads.
//
// Debian's LibTorch calls BLAS through the libblas.so.3 alternative (OpenBLAS, pthreads build, by default),
// which starts one thread per core for a large enough GEMM whatever at::set_num_threads says. So `--threads
// 1` still ran the metrics' GEMMs on both cores, and two TBB workers each calling a two-thread GEMM spent 9%
// of an evaluation in sched_yield. One level of parallelism means sizing this pool too.
namespace dsx {

// Sets OpenBLAS's threads (found at run time, so any BLAS links); does nothing for another BLAS.
void set_blas_threads(int threads);
// OpenBLAS's threads, or 0 when the BLAS is not OpenBLAS.
int blas_threads();

}  // namespace dsx
