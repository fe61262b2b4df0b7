#include "core/blas_threads.h"

#include <dlfcn.h>

#include <algorithm>
#include <mutex>
#include <set>

namespace dsx {

namespace {

template <typename Fn>
Fn openblas_symbol(const char* name) {
  return reinterpret_cast<Fn>(::dlsym(RTLD_DEFAULT, name));
}

struct Policy {
  std::mutex mutex;
  int base = 0;               // 0: never set, OpenBLAS's own default stands
  std::multiset<int> scopes;  // the needs of the scopes alive

  // Under the mutex.
  void apply() const {
    static const auto set = openblas_symbol<void (*)(int)>("openblas_set_num_threads");
    int n = base;
    if (!scopes.empty()) n = *scopes.begin() == 1 ? 1 : std::max(base, *scopes.rbegin());
    if (set && n > 0) set(n);
  }
};

Policy& policy() {
  static Policy p;
  return p;
}

}  // namespace

void set_blas_threads(int threads) {
  Policy& p = policy();
  const std::lock_guard<std::mutex> hold(p.mutex);
  p.base = threads;
  p.apply();
}

int blas_threads() {
  static const auto get = openblas_symbol<int (*)()>("openblas_get_num_threads");
  return get ? get() : 0;
}

BlasThreads::BlasThreads(int threads) : threads_(std::max(1, threads)) {
  Policy& p = policy();
  const std::lock_guard<std::mutex> hold(p.mutex);
  p.scopes.insert(threads_);
  p.apply();
}

BlasThreads::~BlasThreads() {
  Policy& p = policy();
  const std::lock_guard<std::mutex> hold(p.mutex);
  p.scopes.erase(p.scopes.find(threads_));
  p.apply();
}

}  // namespace dsx
