#include "solvers/lincomb.h"

#include <ATen/Parallel.h>

#include <atomic>

#include "core/error.h"

namespace dsx {
namespace {

constexpr int kMaxFused = 8;

std::atomic<int64_t> fused_bytes{0};  // read + written by the fused passes (lincomb_bytes)

// M outputs, K inputs: out[m][i] = Σ_k c[m·K + k]·in[k][i] for i in [lo, hi). Every element is read before
// it is written, so an output may alias an input exactly (never partially), which is what `ivdep` asserts:
// without it the compiler does not vectorise the two-output loop (measured 2.7× slower).
template <typename T, int K, int M>
__attribute__((noinline)) void kernel(T* const* out, const T* const* in, const T (*cc)[K], int64_t lo, int64_t hi) {
  T c[M][K];
  for (int m = 0; m < M; ++m)
    for (int k = 0; k < K; ++k) c[m][k] = cc[m][k];
  const T* p[K];
  for (int k = 0; k < K; ++k) p[k] = in[k];
  T* o[M];
  for (int m = 0; m < M; ++m) o[m] = out[m];
#pragma GCC ivdep
  for (int64_t i = lo; i < hi; ++i) {
    T v[K];
    for (int k = 0; k < K; ++k) v[k] = p[k][i];  // K, M are constants: unrolled and vectorised
    for (int m = 0; m < M; ++m) {
      T acc = c[m][0] * v[0];
      for (int k = 1; k < K; ++k) acc += c[m][k] * v[k];
      o[m][i] = acc;
    }
  }
}

template <typename T, int K, int M>
void fused(T* const* out, const T* const* in, const double* c, int64_t n) {
  T cc[M][K];
  for (int m = 0; m < M; ++m)
    for (int k = 0; k < K; ++k) cc[m][k] = T(c[m * K + k]);
  at::parallel_for(0, n, 1 << 15, [&](int64_t lo, int64_t hi) { kernel<T, K, M>(out, in, cc, lo, hi); });
}

template <typename T, int M>
void dispatch(T* const* out, const T* const* in, const double* c, int k, int64_t n) {
  switch (k) {
    case 1: return fused<T, 1, M>(out, in, c, n);
    case 2: return fused<T, 2, M>(out, in, c, n);
    case 3: return fused<T, 3, M>(out, in, c, n);
    case 4: return fused<T, 4, M>(out, in, c, n);
    case 5: return fused<T, 5, M>(out, in, c, n);
    case 6: return fused<T, 6, M>(out, in, c, n);
    case 7: return fused<T, 7, M>(out, in, c, n);
    case 8: return fused<T, 8, M>(out, in, c, n);
  }
}

bool compatible(const at::Tensor& t, const at::Tensor& first) {
  return t.is_contiguous() && t.scalar_type() == first.scalar_type() && t.device() == first.device() &&
         t.sizes().equals(first.sizes()) && !t.requires_grad();
}

// coefs: M rows of ts.size() coefficients. dsts[m]: a reusable destination or nullptr.
std::vector<at::Tensor> combine(const std::vector<double>& coefs, const std::vector<const at::Tensor*>& ts, int M,
                                at::Tensor* const* dsts) {
  if (ts.empty()) fail("lincomb: no terms");
  const size_t K = ts.size();
  const at::Tensor& first = *ts.front();
  bool fast = first.device().is_cpu() && K <= size_t(kMaxFused) &&
              (first.scalar_type() == at::kFloat || first.scalar_type() == at::kDouble);
  for (const at::Tensor* t : ts) fast = fast && compatible(*t, first);
  std::vector<at::Tensor> outs(static_cast<size_t>(M));
  if (!fast) {
    for (int m = 0; m < M; ++m) {
      at::Tensor out = first * coefs[size_t(m) * K];
      for (size_t k = 1; k < K; ++k) out = out + (*ts[k]) * coefs[size_t(m) * K + k];
      outs[size_t(m)] = out;
    }
    return outs;
  }
  for (int m = 0; m < M; ++m) {
    at::Tensor* d = dsts[m];
    outs[size_t(m)] = d && reusable(*d, first) ? *d : at::empty_like(first, at::MemoryFormat::Contiguous);
  }
  if (M == 2 && outs[0].data_ptr() == outs[1].data_ptr()) outs[1] = at::empty_like(first, at::MemoryFormat::Contiguous);
  fused_bytes.fetch_add(int64_t(K + size_t(M)) * first.numel() * int64_t(first.element_size()),
                        std::memory_order_relaxed);
  if (first.scalar_type() == at::kFloat) {
    std::vector<const float*> in;
    for (const at::Tensor* t : ts) in.push_back(t->data_ptr<float>());
    float* out[2] = {outs[0].data_ptr<float>(), M == 2 ? outs[1].data_ptr<float>() : nullptr};
    if (M == 1)
      dispatch<float, 1>(out, in.data(), coefs.data(), int(K), first.numel());
    else
      dispatch<float, 2>(out, in.data(), coefs.data(), int(K), first.numel());
  } else {
    std::vector<const double*> in;
    for (const at::Tensor* t : ts) in.push_back(t->data_ptr<double>());
    double* out[2] = {outs[0].data_ptr<double>(), M == 2 ? outs[1].data_ptr<double>() : nullptr};
    if (M == 1)
      dispatch<double, 1>(out, in.data(), coefs.data(), int(K), first.numel());
    else
      dispatch<double, 2>(out, in.data(), coefs.data(), int(K), first.numel());
  }
  return outs;
}

}  // namespace

int64_t lincomb_bytes() { return fused_bytes.load(std::memory_order_relaxed); }

bool reusable(const at::Tensor& t, const at::Tensor& like) {
  return t.defined() && t.use_count() == 1 && t.storage().use_count() == 1 && t.storage().allocator() != nullptr &&
         t.storage_offset() == 0 && compatible(t, like);
}

at::Tensor lincomb(std::initializer_list<Term> terms) {
  std::vector<double> c;
  std::vector<const at::Tensor*> t;
  for (const Term& term : terms) c.push_back(term.coef), t.push_back(&term.tensor);
  at::Tensor* none[1] = {nullptr};
  return combine(c, t, 1, none)[0];
}

at::Tensor lincomb(const std::vector<std::pair<double, at::Tensor>>& terms) {
  std::vector<double> c;
  std::vector<const at::Tensor*> t;
  for (const auto& [coef, tensor] : terms) c.push_back(coef), t.push_back(&tensor);
  at::Tensor* none[1] = {nullptr};
  return combine(c, t, 1, none)[0];
}

at::Tensor lincomb_into(at::Tensor& dst, std::initializer_list<Term> terms) {
  std::vector<double> c;
  std::vector<const at::Tensor*> t;
  for (const Term& term : terms) c.push_back(term.coef), t.push_back(&term.tensor);
  at::Tensor* d[1] = {&dst};
  return combine(c, t, 1, d)[0];
}

LinComb& LinComb::add(double coef, const at::Tensor& t) {
  for (auto& [c, u] : terms_)
    if (u->is_same(t)) return c += coef, *this;
  terms_.emplace_back(coef, &t);
  return *this;
}

at::Tensor LinComb::eval(at::Tensor* dst) const {
  std::vector<double> c;
  std::vector<const at::Tensor*> t;
  for (const auto& [coef, tensor] : terms_) c.push_back(coef), t.push_back(tensor);
  at::Tensor* d[1] = {dst};
  return combine(c, t, 1, d)[0];
}

std::pair<at::Tensor, at::Tensor> eval2(const LinComb& a, const LinComb& b, at::Tensor* dst_a, at::Tensor* dst_b) {
  std::vector<const at::Tensor*> t;
  for (const LinComb* l : {&a, &b})
    for (const auto& term : l->terms_) {
      bool seen = false;
      for (const at::Tensor* u : t) seen = seen || u->is_same(*term.second);
      if (!seen) t.push_back(term.second);
    }
  std::vector<double> c(2 * t.size(), 0.0);
  for (int m = 0; m < 2; ++m)
    for (const auto& [coef, tensor] : (m == 0 ? a : b).terms_)
      for (size_t k = 0; k < t.size(); ++k)
        if (t[k]->is_same(*tensor)) c[m * t.size() + k] += coef;
  at::Tensor* d[2] = {dst_a, dst_b};
  auto outs = combine(c, t, 2, d);
  return {outs[0], outs[1]};
}

}  // namespace dsx
