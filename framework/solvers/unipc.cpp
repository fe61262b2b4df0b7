// UniPC (Zhao et al. 2023): multistep UniP-p predictor + UniC corrector, B(h) variants bh1/bh2, data or
// noise prediction, in EDM form (docs/solvers.md §3.6, docs/amed.md §4 "UniPC"; uni_pc.py
// multistep_uni_pc_bh_update, diff-sampler unipc_sampler).
//
// The model value at the *predicted* point is both the corrector's input and the next step's history
// (it is not re-evaluated at the corrected point), so the corrector is free except on the last step.
// Warm-up steps i+1 < p use order i+1 and always correct; afterwards order p, or with lower_order_final
// min(p, remaining steps) (UniPC lowers for any step count, unlike dpm_solver_pytorch), and the last step
// does not correct. As in diff-sampler, a grid with fewer intervals than max_order therefore corrects its
// last (warm-up) step too, spending an N-th model call (final_corrector: warmup); final_corrector: never
// keeps NFE = N−1 on every grid (uni_pc.py never meets the case: it requires steps ≥ order).
//
// Memory passes. The corrected state x_{i+1} = x_pred + δ_i, where δ_i is a combination of model outputs
// only, so it is never written out: the next predictor x_pred' = a·(x_pred + δ_i) + Σ c·m is one pass over
// x_pred (overwritten in place) and the stored outputs, i.e. one pass per model call. In noise-prediction
// form a new output is kept as D until that pass, which also writes its ε = (x_pred − D)/σ over D.
#include <deque>

#include "core/error.h"
#include "solvers/exp_integrator.h"
#include "solvers/families.h"
#include "solvers/lincomb.h"

namespace dsx {
namespace {

struct History {
  double sigma;
  at::Tensor m;      // thresholded D (data prediction) or ε (noise prediction)
  bool raw = false;  // noise prediction: m still holds D; ε = (X − D)/σ with X the point it was evaluated at
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

// Coefficients of one step on the history (newest first) and the new model output m_t:
//   x_pred = ax·x + Σ_j pred[j]·m_j,   x_corr = ax·x + Σ_j corr[j]·m_j + corr_t·m_t.
struct UnipcWeights {
  double ax = 0;
  std::vector<double> pred, corr;
  double corr_t = 0;
};

class UnipcSolver : public Solver {
 public:
  explicit UnipcSolver(const Options& o)
      : common_(CommonOptions::from(o)),
        max_order_(int(o.get_int("max_order"))),
        bh1_(o.get_string("variant") == "bh1"),
        predict_x0_(o.get_bool("predict_x0")),
        lower_order_final_(o.get_bool("lower_order_final")),
        warmup_final_corrector_(o.get_string("final_corrector") == "warmup") {}

  at::Tensor sample(const Denoiser& model, at::Tensor x, const std::vector<double>& sigmas,
                    const SampleHooks& hooks) const override {
    Evaluator ev(model, common_);
    const int n = int(sigmas.size()), steps = n - 1;
    std::deque<History> hist;  // newest first
    hist.push_front({sigmas[0], ev.data(x, sigmas[0]), !predict_x0_});
    // The state is X + Σ_j delta[j]·hist[j]: X is the last predicted point (x itself before the first step).
    at::Tensor X = std::move(x);
    std::vector<double> delta;
    for (int i = 0; i < steps; ++i) {
      const double t = sigmas[i + 1];
      const int order = multistep_order(i + 1, n, max_order_, lower_order_final_);
      const bool correct = i + 1 < max_order_ ? warmup_final_corrector_ || i + 1 < steps : i + 1 < steps;
      const UnipcWeights w = weights(hist, t, order, correct);

      // x_pred = ax·(X + δ) + Σ pred·m, written over X; a raw newest output gets its ε in the same pass.
      LinComb pred;
      pred.add(w.ax, X);
      for (size_t j = 0; j < delta.size(); ++j) add(pred, w.ax * delta[j], hist[j], X);
      for (size_t j = 0; j < w.pred.size(); ++j) add(pred, w.pred[j], hist[j], X);
      if (hist[0].raw && correct) {
        LinComb eps;
        add(eps, 1.0, hist[0], X);
        auto [x_pred, e] = eval2(pred, eps, &X, &hist[0].m);
        X = std::move(x_pred);
        hist[0] = {hist[0].sigma, std::move(e), false};
      } else {
        X = pred.eval(&X);
      }
      if (!correct) {  // the last step: the predictor is the result
        delta.clear();
        if (hooks.on_step) hooks.on_step({i, sigmas[i], t, X});
        continue;
      }

      // The model at the predicted point feeds the corrector and becomes the newest history value:
      // x_{i+1} = x_pred + (corr − pred)·m + corr_t·m_t.
      hist.push_front({t, ev.data(X, t), !predict_x0_});
      delta.assign(hist.size(), 0.0);
      delta[0] = w.corr_t;
      for (size_t j = 0; j < w.corr.size(); ++j) delta[j + 1] += w.corr[j];
      for (size_t j = 0; j < w.pred.size(); ++j) delta[j + 1] -= w.pred[j];
      if (int(hist.size()) > max_order_ + 1) {
        hist.pop_back();
        delta.pop_back();
      }
      if (hooks.on_step) hooks.on_step({i, sigmas[i], t, state(X, hist, delta, false)});
    }
    return state(X, hist, delta, true);
  }

  int64_t expected_nfe(int n) const override {
    const bool extra = warmup_final_corrector_ && n - 1 < max_order_;  // the last step is a warm-up step
    return (n - 1) + (extra ? 1 : 0) - (common_.afs ? 1 : 0);
  }

 private:
  static void add(LinComb& l, double c, const History& e, const at::Tensor& X) {
    if (c == 0.0) return;
    if (e.raw)
      l.add(c / e.sigma, X).add(-c / e.sigma, e.m);
    else
      l.add(c, e.m);
  }

  // X + Σ delta·hist (the corrected state); `last`: X may be overwritten.
  static at::Tensor state(at::Tensor& X, const std::deque<History>& hist, const std::vector<double>& delta, bool last) {
    if (delta.empty()) return X;
    LinComb l;
    l.add(1.0, X);
    for (size_t j = 0; j < delta.size(); ++j) add(l, delta[j], hist[j], X);
    return l.eval(last ? &X : nullptr);
  }

  // One UniP-`order` step from hist[0] to t and, with `correct`, the UniC-`order` corrector.
  UnipcWeights weights(const std::deque<History>& hist, double t, int order, bool correct) const {
    const double s = hist[0].sigma, h = std::log(s / t);
    const double hh = predict_x0_ ? -h : h;
    const double h_phi_1 = std::expm1(hh);
    const double b_h = bh1_ ? hh : std::expm1(hh);

    // Nodes r_k = (λ_k − λ_0)/h of the history (negative), then r = 1 for the new point;
    // D1_k = (m_k − m_0)/r_k.
    std::vector<double> rks;
    for (int k = 1; k < order; ++k) rks.push_back(std::log(s / hist[size_t(k)].sigma) / h);
    rks.push_back(1.0);

    // b_i = hh·φ_{i+1}(hh)·i!/B(h) (the official recursion on h_phi_k, evaluated stably), R_ik = r_k^i.
    std::vector<double> b(static_cast<size_t>(order));
    const size_t no = static_cast<size_t>(order);
    std::vector<std::vector<double>> r_mat(no, std::vector<double>(no));
    double fact = 1.0;
    for (int i = 1; i <= order; ++i) {
      fact *= i;
      b[size_t(i - 1)] = hh * expint::phi(i + 1, hh) * fact / b_h;
      for (int k = 0; k < order; ++k) r_mat[size_t(i - 1)][size_t(k)] = std::pow(rks[size_t(k)], i - 1);
    }

    const double scale = predict_x0_ ? b_h : t * b_h;
    UnipcWeights w;
    // base = (t/s)·x − hφ1·m0 (data) or x − t·hφ1·m0 (noise)
    w.ax = predict_x0_ ? t / s : 1.0;
    const double base_m0 = predict_x0_ ? -h_phi_1 : -t * h_phi_1;
    // −scale·Σ_k ρ_k·D1_k on [m0, m1, ...]
    auto d1_terms = [&](const std::vector<double>& rho, std::vector<double>& out) {
      out.assign(size_t(order), 0.0);
      out[0] = base_m0;
      for (size_t k = 0; k + 1 < size_t(order) && k < rho.size(); ++k) {
        out[k + 1] -= scale * rho[k] / rks[k];
        out[0] += scale * rho[k] / rks[k];
      }
    };
    std::vector<double> rho_p;
    if (order >= 2) {
      // The official code hard-codes ρ = ½ for the 2nd-order predictor instead of solving the 1×1 system.
      rho_p = {0.5};
      if (order > 2) {
        std::vector<std::vector<double>> sub(no - 1, std::vector<double>(no - 1));
        for (int i = 0; i < order - 1; ++i)
          for (int k = 0; k < order - 1; ++k) sub[size_t(i)][size_t(k)] = r_mat[size_t(i)][size_t(k)];
        rho_p = solve_small(sub, std::vector<double>(b.begin(), b.end() - 1));
      }
    }
    d1_terms(rho_p, w.pred);
    if (!correct) return w;

    // ... and ρ = ½ for the 1st-order corrector; the last ρ multiplies (m_t − m0).
    std::vector<double> rho_c = order == 1 ? std::vector<double>{0.5} : solve_small(r_mat, b);
    d1_terms(std::vector<double>(rho_c.begin(), rho_c.end() - 1), w.corr);
    w.corr_t = -scale * rho_c.back();
    w.corr[0] += scale * rho_c.back();
    return w;
  }

  CommonOptions common_;
  int max_order_;
  bool bh1_, predict_x0_, lower_order_final_, warmup_final_corrector_;
};

}  // namespace

std::vector<SolverEntry> unipc_family() {
  std::vector<OptionSpec> opts = {
      opt::integer("max_order", 3, 1, 3, "order p of the UniP predictor (UniC adds one)"),
      opt::choice("variant", {"bh1", "bh2"}, "bh2",
                  "B(h): bh1 = h, bh2 = e^h − 1 (bh1 recommended for < 10 unconditional steps)"),
      opt::flag("predict_x0", true, "true: data-prediction form; false: noise-prediction form"),
      opt::flag("lower_order_final", true, "lower the order on the final steps to the number of steps left"),
      opt::choice("final_corrector", {"warmup", "never"}, "warmup",
                  "warmup: as diff-sampler, a last step that is still a warm-up step (grid with fewer intervals than "
                  "max_order) is corrected too, one extra model call (NFE N); never: the last step never corrects "
                  "(NFE N−1)"),
  };
  return {
      {"unipc",
       "UniPC: multistep UniP predictor + UniC corrector (corrector off on the last step unless it is a warm-up step)",
       "Zhao et al. 2023 (UniPC); uni_pc.py, diff-sampler unipc_sampler",
       "N−1, N when N−1 < max_order and final_corrector=warmup (−1 with afs)",
       "max_order + 1 (without lower_order_final)", std::move(opts),
       [](const Options& o) { return std::make_unique<UnipcSolver>(o); }}};
}

}  // namespace dsx
