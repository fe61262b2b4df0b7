#include "core/blas_threads.h"

#include <dlfcn.h>

namespace dsx {

namespace {

template <typename Fn>
Fn openblas_symbol(const char* name) {
  return reinterpret_cast<Fn>(::dlsym(RTLD_DEFAULT, name));
}

}  // namespace

void set_blas_threads(int threads) {
  static const auto set = openblas_symbol<void (*)(int)>("openblas_set_num_threads");
  if (set && threads > 0) set(threads);
}

int blas_threads() {
  static const auto get = openblas_symbol<int (*)()>("openblas_get_num_threads");
  return get ? get() : 0;
}

}  // namespace dsx
