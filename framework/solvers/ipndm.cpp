// iPNDM (equal-step Adams–Bashforth weights applied with the σ step, Zhang & Chen 2023 / diff-sampler) and
// iPNDM_v (variable-step AB, diff-sampler ipndm_v_sampler), docs/amed.md §4 and docs/solvers.md §3.7.
// Both warm-start: interval i uses min(max_order, i+1) slopes, one model call per interval.
#include "solvers/ipndm.h"

#include <deque>

#include "core/error.h"
#include "solvers/adams.h"
#include "solvers/families.h"
#include "solvers/lincomb.h"
#include "solvers/step_math.h"

namespace dsx {

std::vector<double> ipndm_weights(int order) {
  switch (order) {
    case 1: return {1.0};
    case 2: return {1.5, -0.5};
    case 3: return {23.0 / 12, -16.0 / 12, 5.0 / 12};
    case 4: return {55.0 / 24, -59.0 / 24, 37.0 / 24, -9.0 / 24};
  }
  fail("ipndm_weights: order {} is not in [1, 4]", order);
}

namespace {

// Every weight formula below reads the grid backwards from the target: g[0] = σ_{i+1}, g[1] = σ_i,
// g[2] = σ_{i−1}, …, as doubles (the fused loop) or per-sample tensors (the step-level form).

// diff-sampler's closed forms. hn = σ_{i+1} − σ_i, h1 = σ_i − σ_{i−1}, h2, h3 further back (all negative;
// only ratios matter). The order-3 term T is parsed as Python does, 1 − [hn/(3(hn+h1))]·[hn(hn+h1)/(h1(h1+h2))],
// which equals the AB3 correction only when hn = h1 = h2; the order-4 weights do not sum to one on
// non-uniform grids and on uniform ones are [57, −65, 43, −11]/24, only third-order accurate (docs/solvers.md §0.4).
template <class T>
std::vector<T> faithful_weights(const std::vector<T>& g, int order) {
  const T hn = g[0] - g[1];
  if (order == 1) return {num::constant(hn, 1.0)};
  const T h1 = g[1] - g[2], a = hn / h1;
  if (order == 2) return {(2 + a) / 2, -a / 2};
  const T h2 = g[2] - g[3], b = h1 / h2;
  const T t1 = (1 - hn / (3 * (hn + h1)) * (hn * (hn + h1)) / (h1 * (h1 + h2))) / 2;
  if (order == 3) return {(2 + a) / 2 + t1, -a / 2 - (1 + b) * t1, t1 * b};
  const T h3 = g[3] - g[4];
  const T t2 = ((1 - hn / (3 * (hn + h1))) / 2 + (1 - hn / (2 * (hn + h1))) * hn / (6 * (hn + h1 + h2))) *
               (hn * (hn + h1) * (hn + h1 + h2)) / (h1 * (h1 + h2) * (h1 + h2 + h3));
  const T q = h1 * (h1 + h2) / (h2 * (h2 + h3));
  return {(2 + a) / 2 + t1 + t2, -a / 2 - (1 + b) * t1 - (1 + b + q) * t2, t1 * b + (b + q * (1 + h2 / h3)) * t2,
          -t2 * q * b};
}

// c_j = ∫_0^1 ℓ_j(u) du in u = (σ − σ_i)/(σ_{i+1} − σ_i); the interpolant has degree ≤ 3, so 3-point
// Gauss–Legendre (exact to degree 5) integrates it exactly.
template <class T>
std::vector<T> lagrange_weights(const std::vector<T>& g, int order) {
  const T hn = g[0] - g[1];
  std::vector<T> u;
  for (int k = 0; k < order; ++k) u.push_back((g[size_t(k + 1)] - g[1]) / hn);
  static const double gx[3] = {0.5 - 0.5 * 0.7745966692414834, 0.5, 0.5 + 0.5 * 0.7745966692414834};
  static const double gw[3] = {5.0 / 18, 8.0 / 18, 5.0 / 18};
  std::vector<T> c(size_t(order), num::constant(hn, 0.0));
  for (int j = 0; j < order; ++j)
    for (int q = 0; q < 3; ++q) {
      T l = num::constant(hn, 1.0);
      for (int m = 0; m < order; ++m)
        if (m != j) l = l * ((gx[q] - u[size_t(m)]) / (u[size_t(j)] - u[size_t(m)]));
      c[size_t(j)] = c[size_t(j)] + gw[q] * l;
    }
  return c;
}

template <class T>
std::vector<T> variable_weights(const std::vector<T>& g, int order, AbVariant variant) {
  return variant == AbVariant::Faithful ? faithful_weights(g, order) : lagrange_weights(g, order);
}

}  // namespace

std::vector<double> ipndm_v_weights(const std::vector<double>& sigmas, int i, int order, AbVariant variant) {
  if (order < 1 || order > 4 || i < order - 1 || i + 1 >= int(sigmas.size()))
    fail("ipndm_v_weights: order {} at interval {} of a {}-point grid", order, i, sigmas.size());
  std::vector<double> g;
  for (int j = i + 1; j >= std::max(0, i - 3); --j) g.push_back(sigmas[size_t(j)]);
  return variable_weights(g, order, variant);
}

namespace {

class IpndmSolver : public Solver, public MultistepRule {
 public:
  // variable = false: iPNDM (equal-step weights); true: iPNDM_v with the given variant.
  IpndmSolver(const Options& o, bool variable)
      : common_(CommonOptions::from(o)), max_order_(int(o.get_int("max_order"))), variable_(variable) {
    if (variable_) variant_ = o.get_string("variant") == "corrected" ? AbVariant::Corrected : AbVariant::Faithful;
  }

  at::Tensor sample(const Denoiser& model, at::Tensor x, const std::vector<double>& sigmas,
                    const SampleHooks& hooks) const override {
    Evaluator ev(model, common_);
    // ε of the earlier steps, newest first: d_{i−1}, d_{i−2}, ... The current slope d_i = (x − D)/σ_i is
    // folded into the update's coefficients; one pass writes x_{i+1} (over x) and, when later steps need it,
    // d_i (over D).
    std::deque<at::Tensor> hist;
    const size_t steps = sigmas.size() - 1;
    for (size_t i = 0; i < steps; ++i) {
      const double s = sigmas[i], t = sigmas[i + 1], h = t - s;
      at::Tensor den = ev.data(x, s);
      const int order = std::min(max_order_, int(hist.size()) + 1);
      std::vector<double> c = variable_ ? ipndm_v_weights(sigmas, int(i), order, variant_) : ipndm_weights(order);
      for (auto& ck : c) ck *= h;  // x + h·Σ_k c_k·d_{i−k}
      x = adams_step(x, den, s, c, hist, size_t(max_order_ - 1), max_order_ > 1 && i + 1 < steps);
      if (hooks.on_step) hooks.on_step({int(i), s, t, x});
    }
    return x;
  }
  int64_t expected_nfe(int n) const override { return (n - 1) - (common_.afs ? 1 : 0); }

  // Step-level form: x + (σ_to − σ_from)·Σ_k c_k·ε_k with the weights above.
  const MultistepRule* multistep_rule() const override { return this; }
  Prediction prediction() const override { return Prediction::Noise; }
  int kept() const override { return max_order_ - 1; }
  int order(int k, int) const override { return std::min(max_order_, k); }
  StepWeights<at::Tensor> weights(const std::vector<at::Tensor>& sigma, const at::Tensor& to,
                                  const StepAt& pos) const override {
    const int order = pos.order;
    const at::Tensor h = to - sigma[0];
    std::vector<at::Tensor> b;
    if (variable_) {
      std::vector<at::Tensor> g = {to};
      g.insert(g.end(), sigma.begin(), sigma.end());
      for (const at::Tensor& c : variable_weights(g, order, variant_)) b.push_back(h * c);
    } else {
      for (double c : ipndm_weights(order)) b.push_back(h * c);
    }
    return {at::ones_like(to), std::move(b)};
  }

 private:
  CommonOptions common_;
  int max_order_;
  bool variable_;
  AbVariant variant_ = AbVariant::Faithful;
};

OptionSpec max_order_spec() {
  return opt::integer("max_order", 4, 1, 4,
                      "most slopes combined per step (warm start: interval i uses min(max_order, i+1))");
}

}  // namespace

std::vector<SolverEntry> ipndm_family() {
  return {
      {"ipndm",
       "Adams–Bashforth on d with equal-step weights applied with the σ step (global order 2 on EDM grids)",
       "Zhang & Chen 2023 (DEIS, iPNDM); EDM form of zju-pi/diff-sampler ipndm_sampler",
       "N−1 (−1 with afs)",
       "2",
       {max_order_spec()},
       [](const Options& o) { return std::make_unique<IpndmSolver>(o, false); }},
      {"ipndm_v",
       "variable-step Adams–Bashforth on d in σ: diff-sampler's closed forms (faithful) or exact Lagrange weights",
       "zju-pi/diff-sampler ipndm_v_sampler (Zhou et al. 2024)",
       "N−1 (−1 with afs)",
       "faithful 4: 2 on polynomial grids (3 on logSNR), erratic below ~300 points; corrected: max_order",
       {max_order_spec(),
        opt::choice("variant", {"faithful", "corrected"}, "faithful",
                    "faithful = diff-sampler's formulas (wrong order-3/4 terms on non-uniform grids); corrected = "
                    "true variable-step AB weights")},
       [](const Options& o) { return std::make_unique<IpndmSolver>(o, true); }},
  };
}

}  // namespace dsx
