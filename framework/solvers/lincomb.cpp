#include "solvers/lincomb.h"

#include <ATen/Parallel.h>

#include "core/error.h"

namespace dsx {
namespace {

constexpr int kMaxFused = 8;

template <typename T, int K>
void fused(T* out, const T* const* in, const double* c, int64_t n) {
  T cc[K];
  for (int k = 0; k < K; ++k) cc[k] = T(c[k]);
  at::parallel_for(0, n, 1 << 15, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      T acc = cc[0] * in[0][i];
      for (int k = 1; k < K; ++k) acc += cc[k] * in[k][i];  // K is a constant: unrolled and vectorised
      out[i] = acc;
    }
  });
}

template <typename T>
void dispatch(T* out, const T* const* in, const double* c, int k, int64_t n) {
  switch (k) {
    case 1: return fused<T, 1>(out, in, c, n);
    case 2: return fused<T, 2>(out, in, c, n);
    case 3: return fused<T, 3>(out, in, c, n);
    case 4: return fused<T, 4>(out, in, c, n);
    case 5: return fused<T, 5>(out, in, c, n);
    case 6: return fused<T, 6>(out, in, c, n);
    case 7: return fused<T, 7>(out, in, c, n);
    case 8: return fused<T, 8>(out, in, c, n);
  }
}

at::Tensor combine(const std::vector<double>& coefs, const std::vector<const at::Tensor*>& ts) {
  if (ts.empty()) fail("lincomb: no terms");
  const at::Tensor& first = *ts.front();
  bool fast = first.device().is_cpu() && ts.size() <= size_t(kMaxFused) &&
              (first.scalar_type() == at::kFloat || first.scalar_type() == at::kDouble);
  for (const at::Tensor* t : ts)
    fast = fast && t->is_contiguous() && t->scalar_type() == first.scalar_type() && t->device() == first.device() &&
           t->sizes().equals(first.sizes()) && !t->requires_grad();
  if (!fast) {
    at::Tensor out = first * coefs[0];
    for (size_t k = 1; k < ts.size(); ++k) out = out + (*ts[k]) * coefs[k];
    return out;
  }
  at::Tensor out = at::empty_like(first, at::MemoryFormat::Contiguous);
  if (first.scalar_type() == at::kFloat) {
    std::vector<const float*> in;
    for (const at::Tensor* t : ts) in.push_back(t->data_ptr<float>());
    dispatch(out.data_ptr<float>(), in.data(), coefs.data(), int(ts.size()), out.numel());
  } else {
    std::vector<const double*> in;
    for (const at::Tensor* t : ts) in.push_back(t->data_ptr<double>());
    dispatch(out.data_ptr<double>(), in.data(), coefs.data(), int(ts.size()), out.numel());
  }
  return out;
}

}  // namespace

at::Tensor lincomb(std::initializer_list<Term> terms) {
  std::vector<double> c;
  std::vector<const at::Tensor*> t;
  for (const Term& term : terms) c.push_back(term.coef), t.push_back(&term.tensor);
  return combine(c, t);
}

at::Tensor lincomb(const std::vector<std::pair<double, at::Tensor>>& terms) {
  std::vector<double> c;
  std::vector<const at::Tensor*> t;
  for (const auto& [coef, tensor] : terms) c.push_back(coef), t.push_back(&tensor);
  return combine(c, t);
}

}  // namespace dsx
