// SciRE-Solver (Li et al., ShiguiLi/SciRE-Solver HEAD `scire_solver.py`) in EDM form, docs/solvers.md §2.
// Both algorithms integrate an exact "integrand" form of the ODE with a Taylor step whose derivative is a
// recursive difference divided by φ:
//   v1: y = x̂,   m = ε(x̂, ρ),            u = ρ     (dy/du = m)
//   v2: y = x̂/ρ, m = D(ρ·y, ρ),           u = 1/ρ   (dy/du = m)
// with ρ = σ̂ = σ. φ ≠ 1 biases the second-order term, so every HEAD mode is first-order convergent
// (docs/solvers.md §0.1, §2.9); φ = 1 gives the plain finite-difference schemes (order 2).
//
// Grids. multistep: one model call per interval (NFE = N−1), the last step has no trailing call.
// Singlestep methods take the grid as the OUTER grid (HEAD builds that grid itself from its NFE budget):
//   singlestep_fixed: every interval has the solver's order, NFE = order·(N−1).
//   singlestep_agile: HEAD's per-step order lists (DPM-Solver's singlestep lists) for the smallest budget
//     that still gives one outer step per interval: order 3 → [3,…,3,2,1] (NFE 3(N−1)−3), order 2 →
//     [2,…,2,1] (NFE 2(N−1)−1), order 1 → all 1.
//   The singlestep φ schedule of §2.4 is indexed with K = N−1 outer intervals for both methods (HEAD's
//   K = ⌊NFE/order⌋ equals it for singlestep_fixed; for agile HEAD's outer grid differs anyway).
// Intermediate points use the official 'linear'-schedule defaults r1 = 1/2 (order 2), (1/3, 2/3) (order 3),
// placed linearly in u (ρ for v1, 1/ρ for v2).
#include "solvers/scire.h"

#include <cmath>
#include <deque>

#include "core/error.h"
#include "solvers/families.h"
#include "solvers/lincomb.h"
#include "solvers/step_math.h"

namespace dsx {

std::vector<double> scire_series_phi(double x, int n) {
  std::vector<double> phi;
  double sum = 0.0, term = 1.0;  // term = (−x)^{k−1}/k!
  for (int k = 1; k <= n + 2; ++k) {
    if (k > 1) term *= -x / k;
    sum += term;
    if (k >= 3) phi.push_back(sum);
  }
  return phi;
}

namespace {
double py_index(const std::vector<double>& v, int i) {
  const int n = int(v.size());
  if (i < -n || i >= n) fail("SciRE φ schedule: index {} outside a list of {}", i, n);
  return v[size_t(i < 0 ? i + n : i)];
}
}  // namespace

double scire_multistep_phi(int step, int steps, int order) {
  const std::vector<double> phi = scire_series_phi(1.0, steps + 1);
  if (step < order) return py_index(phi, 2 * step - 1);
  if (step < steps / 2) return py_index(phi, 2 * (step - order) + 1);
  if (step == steps / 2) return py_index(phi, -1);
  return py_index(phi, 2 * (steps - step));
}

double scire_singlestep_phi(int j, int K) {
  const std::vector<double> phi = scire_series_phi(1.0, K);
  if (j < K / 2) return py_index(phi, 2 * j);
  if (j == K / 2) return py_index(phi, -1);
  return py_index(phi, 2 * (K - j) - 1);
}

namespace {

// Weights c_j on m_0 (newest), m_1, m_2 of the order-k multistep update y_to = y + Σ_j c_j m_j (HEAD
// `multistep_scire_solver_*_update`); sigma = σ of m_0, m_1, … (newest first), to = the target σ. T = double
// in the fused loop, a per-sample tensor in the step-level form.
template <class T>
std::vector<T> scire_weights(const std::vector<T>& sigma, const T& to, int k, double phi, bool v2) {
  const T& p0 = sigma[0];
  const T h = v2 ? T(1.0 / to - 1.0 / p0) : T(to - p0);  // u(t) − u(σ_0), u = 1/σ (v2) or σ (v1)
  if (k == 1) return {h};
  const T& p1 = sigma[1];
  if (k == 2) {
    // HEAD measures the step ratio in λ units and takes its fourth root, for v1 and v2 alike.
    const T r = num::pow(num::log(p1 / p0) / num::log(p0 / to), 0.25);
    const T a = h / (2.0 * phi * r);  // y + h·m0 + a·(m0 − m1)
    return {h + a, -a};
  }
  // HEAD's third order uses ρ differences for v1 and v2 alike (docs/solvers.md §2.3, §5.13):
  // y + h·m0 + a·(m0 − m1) + b·(m0 − 2m1 + m2).
  const T& p2 = sigma[2];
  const T r0 = phi * (p0 - p1) / (to - p0), r1 = (phi / (1 + phi)) * (p1 - p2) / (p0 - p1);
  const T a = h / (2.0 * r0 * phi), b = h / (6.0 * (r0 * phi) * (r1 * phi));
  return {h + a + b, -a - 2.0 * b, b};
}

enum class Method { Multistep, Fixed, Agile };

class ScireSolver : public Solver, public MultistepRule {
 public:
  explicit ScireSolver(const Options& o)
      : common_(CommonOptions::from(o)),
        v2_(o.get_string("algorithm") == "v2"),
        order_(int(o.get_int("order"))),
        lof_(o.get_bool("lower_order_final")) {
    const std::string m = o.get_string("method");
    method_ = m == "multistep" ? Method::Multistep : m == "singlestep_fixed" ? Method::Fixed : Method::Agile;
    if (o.is_number("phi")) {
      phi_fixed_ = o.get_double("phi");
    } else if (o.get_string("phi") == "one") {
      phi_fixed_ = 1.0;
    }  // else "official": phi_fixed_ stays 0 and the HEAD schedule is used
  }

  // The state carried is x itself for both algorithms (v2's y = x/ρ is folded into the coefficients), and
  // every update is one pass over x and the model outputs (v1's ε = (x − D)/σ folded in as well).
  at::Tensor sample(const Denoiser& model, at::Tensor x, const std::vector<double>& sigmas,
                    const SampleHooks& hooks) const override {
    Evaluator ev(model, common_);
    return method_ == Method::Multistep ? multistep(ev, std::move(x), sigmas, hooks)
                                        : singlestep(ev, std::move(x), sigmas, hooks);
  }

  int64_t expected_nfe(int n) const override {
    const int intervals = n - 1;
    int64_t nfe = intervals;
    if (method_ != Method::Multistep) {
      nfe = 0;
      for (int k : step_orders(intervals)) nfe += k;
    }
    return nfe - (common_.afs ? 1 : 0);
  }

  // Step-level form of the multistep method: x = scale(σ)·y, so x_next = scale(t)/scale(σ_0)·x + scale(t)·Σ c_j m_j.
  const MultistepRule* multistep_rule() const override { return method_ == Method::Multistep ? this : nullptr; }
  Prediction prediction() const override { return v2_ ? Prediction::Data : Prediction::Noise; }
  int kept() const override { return order_ - 1; }
  int order(int k, int points) const override { return multistep_order(k, points, order_, lof_); }
  StepWeights<at::Tensor> weights(const std::vector<at::Tensor>& sigma, const at::Tensor& to,
                                  const StepAt& pos) const override {
    std::vector<at::Tensor> c = scire_weights(sigma, to, pos.order, step_phi(pos.k, pos.points - 1), v2_);
    if (v2_)
      for (at::Tensor& cj : c) cj = to * cj;
    return {v2_ ? to / sigma[0] : at::ones_like(to), std::move(c)};
  }

  int min_points() const override {
    if (method_ == Method::Multistep) return order_ + 1;    // HEAD asserts steps ≥ order
    if (method_ == Method::Agile && order_ == 3) return 3;  // [.., 2, 1] needs two outer steps
    return 2;
  }

 private:
  // A model output in the integrand variable: v1 m = ε = (x_eval − D)/σ (kept as D until written out),
  // v2 m = D.
  struct Out {
    double sigma;
    at::Tensor m;
    bool raw;  // m holds D of a v1 output
  };

  double u(double sigma) const { return v2_ ? 1.0 / sigma : sigma; }
  double sigma_of_u(double v) const { return v2_ ? 1.0 / v : v; }
  // x = scale(σ)·y
  double scale(double sigma) const { return v2_ ? sigma : 1.0; }
  Out model_at(Evaluator& ev, const at::Tensor& x, double sigma) const { return {sigma, ev.data(x, sigma), !v2_}; }
  // l += c·m, with x_eval the point m was evaluated at.
  static void add(LinComb& l, double c, const Out& o, const at::Tensor& x_eval) {
    if (o.raw)
      l.add(c / o.sigma, x_eval).add(-c / o.sigma, o.m);
    else
      l.add(c, o.m);
  }
  // The point at σ_to of y_to = y + Σ c_j m_j, y = x/scale(σ_from), in x units.
  at::Tensor point(const at::Tensor& x, double sigma_from, double sigma_to,
                   const std::vector<std::pair<double, std::pair<const Out*, const at::Tensor*>>>& terms,
                   at::Tensor* dst) const {
    const double k = scale(sigma_to);
    LinComb l;
    l.add(k / scale(sigma_from), x);
    for (const auto& [c, m] : terms) add(l, k * c, *m.first, *m.second);
    return l.eval(dst);
  }

  // Orders of the outer steps for singlestep methods on `intervals` grid intervals.
  std::vector<int> step_orders(int intervals) const {
    std::vector<int> orders(size_t(intervals), order_);
    if (method_ == Method::Agile && order_ >= 2 && intervals >= order_ - 1) {
      // DPM-Solver/SciRE agile list with the fewest calls for this many outer steps.
      for (int k = 1; k < order_; ++k) orders[size_t(intervals - k)] = k;
    }
    return orders;
  }

  // Multistep (HEAD `multistep_scire_solver_*_update`): y_{new} = y + Σ_j c_j m_j over the history
  // (newest first), one model call per interval, none after the last.
  at::Tensor multistep(Evaluator& ev, at::Tensor x, const std::vector<double>& sg, const SampleHooks& hooks) const {
    const int steps = int(sg.size()) - 1;
    std::deque<Out> hm;  // newest first
    hm.push_front(model_at(ev, x, sg[0]));
    for (int step = 1; step <= steps; ++step) {
      const double p0 = sg[size_t(step - 1)], t = sg[size_t(step)];
      const int k = multistep_order(step, steps + 1, order_, lof_);
      std::vector<double> sigma;  // σ of m_0, m_1, …
      for (int j = 0; j < k; ++j) sigma.push_back(sg[size_t(step - 1 - j)]);
      const std::vector<double> c = scire_weights(sigma, t, k, step_phi(step, steps), v2_);
      const double kt = scale(t);
      LinComb next;
      next.add(kt / scale(p0), x);
      for (size_t j = 0; j < c.size(); ++j) add(next, kt * c[j], hm[j], x);
      if (hm[0].raw && order_ > 1 && step < steps) {  // later steps need this ε: write it over D
        LinComb eps;
        add(eps, 1.0, hm[0], x);
        auto [x_next, e] = eval2(next, eps, &x, &hm[0].m);
        x = std::move(x_next);
        hm[0] = {hm[0].sigma, std::move(e), false};
      } else {
        x = next.eval(&x);
      }
      if (step < steps) {
        hm.push_front(model_at(ev, x, t));
        if (int(hm.size()) > order_) hm.pop_back();
      }
      if (hooks.on_step) hooks.on_step({step - 1, p0, t, x});
    }
    return x;
  }

  // The HEAD φ of multistep step `step` of `steps`, or the fixed one.
  double step_phi(int step, int steps) const {
    return phi_fixed_ > 0 ? phi_fixed_ : scire_multistep_phi(step, steps, order_);
  }

  // Singlestep (HEAD `singlestep_scire_solver_*_update`) on the outer grid `sg`.
  at::Tensor singlestep(Evaluator& ev, at::Tensor x, const std::vector<double>& sg, const SampleHooks& hooks) const {
    const std::vector<int> orders = step_orders(int(sg.size()) - 1);
    const int K = int(orders.size());
    for (size_t j = 0; j < orders.size(); ++j) {
      const double s = sg[j], t = sg[j + 1], h = u(t) - u(s);
      const int k = orders[j];
      const double phi = k == 1 ? 1.0 : phi_fixed_ > 0 ? phi_fixed_ : scire_singlestep_phi(int(j), K);
      const Out ms = model_at(ev, x, s);
      if (k == 1) {
        x = point(x, s, t, {{h, {&ms, &x}}}, &x);
      } else if (k == 2) {
        const double r1 = 0.5, s1 = sigma_of_u(u(s) + r1 * h), a = h / (2 * r1 * phi);
        const at::Tensor x1 = point(x, s, s1, {{r1 * h, {&ms, &x}}}, nullptr);
        const Out m1 = model_at(ev, x1, s1);
        // y + h·ms + a·(m1 − ms)
        x = point(x, s, t, {{h - a, {&ms, &x}}, {a, {&m1, &x1}}}, &x);
      } else {
        const double r1 = 1.0 / 3, r2 = 2.0 / 3;
        const double s1 = sigma_of_u(u(s) + r1 * h), s2 = sigma_of_u(u(s) + r2 * h);
        const at::Tensor x1 = point(x, s, s1, {{r1 * h, {&ms, &x}}}, nullptr);
        const Out m1 = model_at(ev, x1, s1);
        const double a1 = r2 * h / (2 * r1 * phi);  // y + r2·h·ms + a1·(m1 − ms)
        const at::Tensor x2 = point(x, s, s2, {{r2 * h - a1, {&ms, &x}}, {a1, {&m1, &x1}}}, nullptr);
        const Out m2 = model_at(ev, x2, s2);
        const double a2 = h / (2 * r2 * phi);  // y + h·ms + a2·(m2 − ms)
        x = point(x, s, t, {{h - a2, {&ms, &x}}, {a2, {&m2, &x2}}}, &x);
      }
      if (hooks.on_step) hooks.on_step({int(j), s, t, x});
    }
    return x;
  }

  CommonOptions common_;
  bool v2_;
  Method method_ = Method::Multistep;
  int order_;
  bool lof_;
  double phi_fixed_ = 0.0;
};

}  // namespace

std::vector<SolverEntry> scire_family() {
  return {{"scire",
           "SciRE-Solver: Taylor steps in ρ (v1, ε) or 1/ρ (v2, D) with recursive-difference derivatives",
           "Li et al. 2023 (arXiv 2308.07896); ShiguiLi/SciRE-Solver scire_solver.py (HEAD 2024-04)",
           "multistep N−1; singlestep_fixed order·(N−1); singlestep_agile order·(N−1)−order(order−1)/2 "
           "(−1 with afs)",
           "1 with the official φ; 2 with phi=one",
           {opt::choice("algorithm", {"v1", "v2"}, "v1", "v1: noise integrand in ρ = σ; v2: data integrand in τ = 1/σ"),
            opt::choice("method", {"multistep", "singlestep_fixed", "singlestep_agile"}, "multistep",
                        "multistep: 1 call per interval; singlestep_*: the grid is the outer grid, `order` calls per "
                        "interval (agile lowers the last intervals' orders to [.., 2, 1])"),
            opt::integer("order", 2, 1, 3, "solver order (HEAD: 1, 2 or 3)"),
            opt::choice_or_number("phi", {"official", "one"}, "official", 0.0, 2.0,
                                  "recursive-difference factor: official = HEAD per-step series_phi schedule; one = "
                                  "φ ≡ 1 (finite differences, order 2); a number = fixed φ (2/3 = the 'rde' files)")
                .exclusive_min(),
            opt::flag("lower_order_final", true,
                      "multistep: order min(order, steps+1−step) near the end (HEAD always applies it)")},
           [](const Options& o) { return std::make_unique<ScireSolver>(o); }}};
}

}  // namespace dsx
