// UniPC (Zhao et al. 2023): multistep UniP-p predictor + UniC corrector, B(h) variants bh1/bh2, data or
// noise prediction, in EDM form (notes/solvers.md §3.6, notes/amed.md §4 "UniPC"; uni_pc.py
// multistep_uni_pc_bh_update, diff-sampler unipc_sampler).
//
// The model value at the *predicted* point is both the corrector's input and the next step's history
// (it is not re-evaluated at the corrected point), so the corrector is free except on the last step,
// where it is skipped: NFE = N−1. Warm-up steps k < p use order k; afterwards order p, or with
// lower_order_final min(p, remaining steps) (UniPC lowers for any step count, unlike dpm_solver_pytorch).
// One deliberate deviation: with fewer steps than max_order diff-sampler still runs the corrector on its
// last (warm-up) step, spending an N-th evaluation; here the last step never corrects.
#include <deque>

#include "core/error.h"
#include "solvers/exp_integrator.h"
#include "solvers/families.h"

namespace dsx {
namespace {

struct History {
  double sigma;
  at::Tensor m;  // thresholded D (data prediction) or ε (noise prediction)
};

// Solves the (at most 3×3) Vandermonde-like system a·w = b by Gaussian elimination with pivoting.
std::vector<double> solve_small(std::vector<std::vector<double>> a, std::vector<double> b) {
  const size_t n = b.size();
  for (size_t c = 0; c < n; ++c) {
    size_t piv = c;
    for (size_t r = c + 1; r < n; ++r)
      if (std::abs(a[r][c]) > std::abs(a[piv][c])) piv = r;
    if (a[piv][c] == 0.0) fail("unipc: singular coefficient system (repeated grid points?)");
    std::swap(a[c], a[piv]);
    std::swap(b[c], b[piv]);
    for (size_t r = c + 1; r < n; ++r) {
      const double f = a[r][c] / a[c][c];
      for (size_t k = c; k < n; ++k) a[r][k] -= f * a[c][k];
      b[r] -= f * b[c];
    }
  }
  std::vector<double> w(n);
  for (size_t c = n; c-- > 0;) {
    double acc = b[c];
    for (size_t k = c + 1; k < n; ++k) acc -= a[c][k] * w[k];
    w[c] = acc / a[c][c];
  }
  return w;
}

class UnipcSolver : public Solver {
 public:
  explicit UnipcSolver(const Options& o)
      : common_(CommonOptions::from(o)),
        max_order_(int(o.get_int("max_order"))),
        bh1_(o.get_string("variant") == "bh1"),
        predict_x0_(o.get_bool("predict_x0")),
        lower_order_final_(o.get_bool("lower_order_final")) {}

  at::Tensor sample(Denoiser& model, at::Tensor x, const std::vector<double>& sigmas,
                    const SampleHooks& hooks) const override {
    Evaluator ev(model, common_);
    const int n = int(sigmas.size()), steps = n - 1;
    std::deque<History> hist;  // newest first
    hist.push_front({sigmas[0], evaluate(ev, x, sigmas[0])});
    for (int i = 0; i < steps; ++i) {
      const double t = sigmas[i + 1];
      const bool last = i == steps - 1;
      int order = i + 1 < max_order_ ? i + 1 : (lower_order_final_ ? std::min(max_order_, n - i - 1) : max_order_);
      at::Tensor m_t;
      x = step(ev, x, hist, t, order, last ? nullptr : &m_t);
      if (!last) {
        hist.push_front({t, m_t});
        if (int(hist.size()) > max_order_) hist.pop_back();
      }
      if (hooks.on_step) hooks.on_step({i, sigmas[i], t, x});
    }
    return x;
  }

  int64_t expected_nfe(int n) const override { return (n - 1) - (common_.afs ? 1 : 0); }

 private:
  at::Tensor evaluate(Evaluator& ev, const at::Tensor& x, double sigma) const {
    return predict_x0_ ? ev.data(x, sigma) : ev.eps(x, sigma);
  }

  // One UniP-`order` step from hist[0] to t; with `m_out` the model is evaluated at the predicted point
  // (returned through m_out) and UniC-`order` corrects the step.
  at::Tensor step(Evaluator& ev, const at::Tensor& x, const std::deque<History>& hist, double t, int order,
                  at::Tensor* m_out) const {
    const double s = hist[0].sigma, h = std::log(s / t);
    const at::Tensor& m0 = hist[0].m;
    const double hh = predict_x0_ ? -h : h;
    const double h_phi_1 = std::expm1(hh);
    const double b_h = bh1_ ? hh : std::expm1(hh);

    // Nodes r_k = (λ_k − λ_0)/h of the history (negative), then r = 1 for the new point.
    std::vector<double> rks;
    std::vector<at::Tensor> d1s;
    for (int k = 1; k < order; ++k) {
      const double r = std::log(s / hist[k].sigma) / h;
      rks.push_back(r);
      d1s.push_back((hist[k].m - m0) / r);
    }
    rks.push_back(1.0);

    // b_i = hh·φ_{i+1}(hh)·i!/B(h) (the official recursion on h_phi_k, evaluated stably), R_ik = r_k^i.
    std::vector<double> b(order);
    std::vector<std::vector<double>> r_mat(order, std::vector<double>(order));
    double fact = 1.0;
    for (int i = 1; i <= order; ++i) {
      fact *= i;
      b[i - 1] = hh * expint::phi(i + 1, hh) * fact / b_h;
      for (int k = 0; k < order; ++k) r_mat[i - 1][k] = std::pow(rks[k], i - 1);
    }

    const double scale = predict_x0_ ? b_h : t * b_h;
    at::Tensor base = predict_x0_ ? (t / s) * x - h_phi_1 * m0 : x - (t * h_phi_1) * m0;
    at::Tensor x_pred = base;
    if (order >= 2) {
      // The official code hard-codes ρ = ½ for the 2nd-order predictor instead of solving the 1×1 system.
      std::vector<double> rho_p{0.5};
      if (order > 2) {
        std::vector<std::vector<double>> sub(order - 1, std::vector<double>(order - 1));
        for (int i = 0; i < order - 1; ++i)
          for (int k = 0; k < order - 1; ++k) sub[i][k] = r_mat[i][k];
        rho_p = solve_small(sub, std::vector<double>(b.begin(), b.end() - 1));
      }
      at::Tensor pred = rho_p[0] * d1s[0];
      for (size_t k = 1; k < rho_p.size(); ++k) pred = pred + rho_p[k] * d1s[k];
      x_pred = base - scale * pred;
    }
    if (!m_out) return x_pred;

    *m_out = evaluate(ev, x_pred, t);
    // ... and ρ = ½ for the 1st-order corrector.
    std::vector<double> rho_c = order == 1 ? std::vector<double>{0.5} : solve_small(r_mat, b);
    at::Tensor corr = rho_c.back() * (*m_out - m0);
    for (int k = 0; k < order - 1; ++k) corr = corr + rho_c[k] * d1s[k];
    return base - scale * corr;
  }

  CommonOptions common_;
  int max_order_;
  bool bh1_, predict_x0_, lower_order_final_;
};

}  // namespace

std::vector<SolverEntry> unipc_family() {
  std::vector<OptionSpec> opts = {
      {"max_order", OptionType::Int, "3", 1, 3, false, false, {}, "order p of the UniP predictor (UniC adds one)"},
      {"variant", OptionType::Choice, "bh2", -1e300, 1e300, false, false, {"bh1", "bh2"},
       "B(h): bh1 = h, bh2 = e^h − 1 (bh1 recommended for < 10 unconditional steps)"},
      {"predict_x0", OptionType::Bool, "true", -1e300, 1e300, false, false, {},
       "true: data-prediction form; false: noise-prediction form"},
      {"lower_order_final", OptionType::Bool, "true", -1e300, 1e300, false, false, {},
       "lower the order on the final steps to the number of steps left"},
  };
  return {{"unipc", "UniPC: multistep UniP predictor + UniC corrector (corrector off on the last step)",
           "Zhao et al. 2023 (UniPC); uni_pc.py, diff-sampler unipc_sampler", "N−1 (−1 with afs)",
           "max_order + 1 (without lower_order_final)", std::move(opts),
           [](const Options& o) { return std::make_unique<UnipcSolver>(o); }}};
}

}  // namespace dsx
