#pragma once
// Σ c_k·t_k in one pass over memory. Every update of the solvers here (Euler, Heun, exponential
// integrators, Adams–Bashforth, UniPC, SciRE) is a linear combination of the state and a few model
// outputs with scalar coefficients; fusing it keeps solver overhead small next to the model call
// (separate torch ops would allocate and sweep the batch once per term).
//
// On CPU these passes are memory-bound (~0.08 ms per 3 MB tensor read or written on the reference
// machine), so the solvers also (a) fold derived quantities (ε = (x − D)/σ, divided differences) into the
// host-side coefficients instead of materialising them, and (b) write results into buffers they own and
// no longer need (`dst`), which saves the allocation, its page faults and the write-allocate traffic.
#include <utility>
#include <vector>

#include <ATen/ATen.h>

namespace dsx {

struct Term {
  double coef;
  const at::Tensor& tensor;
};

// All tensors must share shape, dtype and device. CPU float/double contiguous tensors use a fused loop
// (up to 8 distinct tensors); anything else falls back to torch arithmetic (same values up to rounding order).
at::Tensor lincomb(std::initializer_list<Term> terms);
at::Tensor lincomb(const std::vector<std::pair<double, at::Tensor>>& terms);

// True when the result of a combination may be written into `t`'s buffer: the caller's handle is the only
// one (no other tensor, view or hook shares the storage), the memory is allocator-owned, and `like` matches
// its shape, dtype and device.
bool reusable(const at::Tensor& t, const at::Tensor& like);

// A linear combination built term by term (coefficients of a repeated tensor are merged), evaluated in one
// pass. It keeps pointers to the tensors, which must outlive it (build it from named tensors, not temporaries). `dst`
// (optional): written in place when reusable() — it may be one of the terms, every element is read before it is written
// — otherwise a new tensor is returned and *dst is left alone.
class LinComb {
 public:
  LinComb& add(double coef, const at::Tensor& t);
  LinComb& add(double coef, const at::Tensor&& t) = delete;  // no temporaries
  at::Tensor eval(at::Tensor* dst = nullptr) const;
  bool empty() const { return terms_.empty(); }

 private:
  friend std::pair<at::Tensor, at::Tensor> eval2(const LinComb&, const LinComb&, at::Tensor*, at::Tensor*);
  std::vector<std::pair<double, const at::Tensor*>> terms_;
};

// Two combinations in one pass over the union of their tensors (e.g. the next state and the ε of the
// newest model output). dst_a and dst_b must not share a buffer.
std::pair<at::Tensor, at::Tensor> eval2(const LinComb& a, const LinComb& b, at::Tensor* dst_a = nullptr,
                                        at::Tensor* dst_b = nullptr);

// Bytes the fused passes have read and written in this process so far (every term read once, every output
// written once): `dsx bench solvers` turns a run's share into the memory-bound floor of its updates.
int64_t lincomb_bytes();

// lincomb written into `dst` when reusable: `x = lincomb_into(x, {{a, x}, {b, D}})` updates x in place
// unless someone else holds it.
at::Tensor lincomb_into(at::Tensor& dst, std::initializer_list<Term> terms);

}  // namespace dsx
