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
//
// Step-level form (UnipcRun): the same weights on per-sample σ; the caller's model call at each returned
// predicted point supplies the corrector's m_t, so the correction is applied at the start of the next step.
#include <deque>

#include "core/error.h"
#include "solvers/exp_integrator.h"
#include "solvers/families.h"
#include "solvers/lincomb.h"
#include "solvers/step_math.h"

namespace dsx {
namespace {

struct History {
  double sigma;
  at::Tensor m;      // thresholded D (data prediction) or ε (noise prediction)
  bool raw = false;  // noise prediction: m still holds D; ε = (X − D)/σ with X the point it was evaluated at
};

// Solves the (at most 3×3) Vandermonde-like system a·w = b by Gaussian elimination with pivoting.
std::vector<double> solve(std::vector<std::vector<double>> a, std::vector<double> b) {
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

// The same per sample: a[i][k], b[i] are [B]; one batched (differentiable) solve.
std::vector<at::Tensor> solve(const std::vector<std::vector<at::Tensor>>& a, const std::vector<at::Tensor>& b) {
  std::vector<at::Tensor> rows;
  for (const auto& row : a) rows.push_back(at::stack(row, -1));
  const at::Tensor w = at::linalg_solve(at::stack(rows, -2), at::stack(b, -1).unsqueeze(-1)).squeeze(-1);
  return w.unbind(-1);
}

// Coefficients of one step on the history m_0 (newest), m_1, … and the model output m_t at the predicted point:
//   x_pred = ax·x + Σ_j pred[j]·m_j,   x_corr = ax·x + Σ_j corr[j]·m_j + corr_t·m_t.
template <class T>
struct UnipcWeights {
  T ax;
  std::vector<T> pred, corr;
  T corr_t;
};

// One UniP-`order` step from sigma[0] to t and, with `correct`, the UniC-`order` corrector; sigma = σ of
// m_0, m_1, … (newest first, at least `order`). T = double in the fused loop, a per-sample tensor in the
// step-level form.
template <class T>
UnipcWeights<T> unipc_weights(const std::vector<T>& sigma, const T& t, int order, bool correct, bool bh1,
                              bool predict_x0) {
  const T& s = sigma[0];
  const T h = num::log(s / t);
  const T hh = predict_x0 ? T(-h) : h;
  const T h_phi_1 = num::expm1(hh);
  const T b_h = bh1 ? hh : num::expm1(hh);
  const T zero = num::constant(t, 0.0), half = num::constant(t, 0.5);

  // Nodes r_k = (λ_k − λ_0)/h of the history (negative), then r = 1 for the new point;
  // D1_k = (m_k − m_0)/r_k.
  std::vector<T> rks;
  for (int k = 1; k < order; ++k) rks.push_back(num::log(s / sigma[size_t(k)]) / h);
  rks.push_back(num::constant(t, 1.0));

  // b_i = hh·φ_{i+1}(hh)·i!/B(h) (the official recursion on h_phi_k, evaluated stably), R_ik = r_k^i.
  const size_t no = static_cast<size_t>(order);
  std::vector<T> b(no, zero);
  std::vector<std::vector<T>> r_mat(no, std::vector<T>(no, zero));
  double fact = 1.0;
  for (int i = 1; i <= order; ++i) {
    fact *= i;
    b[size_t(i - 1)] = hh * num::phi(i + 1, hh) * fact / b_h;
    for (int k = 0; k < order; ++k) r_mat[size_t(i - 1)][size_t(k)] = num::pow(rks[size_t(k)], double(i - 1));
  }

  const T scale = predict_x0 ? b_h : T(t * b_h);
  UnipcWeights<T> w{predict_x0 ? T(t / s) : num::constant(t, 1.0), {}, {}, zero};
  // base = (t/s)·x − hφ1·m0 (data) or x − t·hφ1·m0 (noise), then −scale·Σ_k ρ_k·D1_k on [m0, m1, ...]
  const T base_m0 = predict_x0 ? T(-h_phi_1) : T(-t * h_phi_1);
  auto d1_terms = [&](const std::vector<T>& rho, std::vector<T>& out) {
    out.assign(no, zero);
    out[0] = base_m0;
    for (size_t k = 0; k + 1 < no && k < rho.size(); ++k) {
      out[k + 1] = out[k + 1] - scale * rho[k] / rks[k];
      out[0] = out[0] + scale * rho[k] / rks[k];
    }
  };
  std::vector<T> rho_p;
  if (order >= 2) {
    // The official code hard-codes ρ = ½ for the 2nd-order predictor instead of solving the 1×1 system.
    rho_p = {half};
    if (order > 2) {
      std::vector<std::vector<T>> sub(no - 1, std::vector<T>(no - 1));
      for (size_t i = 0; i + 1 < no; ++i)
        for (size_t k = 0; k + 1 < no; ++k) sub[i][k] = r_mat[i][k];
      rho_p = solve(sub, std::vector<T>(b.begin(), b.end() - 1));
    }
  }
  d1_terms(rho_p, w.pred);
  if (!correct) return w;

  // ... and ρ = ½ for the 1st-order corrector; the last ρ multiplies (m_t − m0).
  const std::vector<T> rho_c = order == 1 ? std::vector<T>{half} : solve(r_mat, b);
  d1_terms(std::vector<T>(rho_c.begin(), rho_c.end() - 1), w.corr);
  w.corr_t = -scale * rho_c.back();
  w.corr[0] = w.corr[0] + scale * rho_c.back();
  return w;
}

// The order schedule and corrector rule, shared by the fused loop and the step-level run.
struct UnipcPlan {
  int max_order;
  bool lower_order_final, warmup_final_corrector;
  int order(int k, int points) const { return multistep_order(k, points, max_order, lower_order_final); }
  // Whether step k of `steps` corrects: every step but the last, and a last step that is a warm-up step
  // under final_corrector: warmup.
  bool corrects(int k, int steps) const { return k < max_order ? warmup_final_corrector || k < steps : k < steps; }
};

// Step-level UniPC. The caller evaluates the model at the point each step returns (the predicted point x_pred);
// the next step first applies the pending correction x = x_pred + δ, whose weights were fixed by the previous
// step and whose newest term is that evaluation, then predicts. History values and the pending weights are
// carried() (detached unless keep_graph).
class UnipcRun : public StepRun {
 public:
  UnipcRun(UnipcPlan plan, bool bh1, bool predict_x0, int points)
      : plan_(plan), bh1_(bh1), predict_x0_(predict_x0), points_(points) {}
  void reset() override {
    k_ = 0;
    m_.clear();
    sigma_.clear();
    pending_.clear();
  }
  int steps_done() const override { return k_; }
  bool keeps_history() const override { return true; }
  bool pending() const override { return !pending_.empty(); }

  at::Tensor step(const at::Tensor& x, const at::Tensor& den, const at::Tensor& from, const at::Tensor& to,
                  const at::Tensor& scale) override {
    ++k_;
    const at::Tensor m0 = output(x, den, from);
    const at::Tensor state = pending_.empty() ? x : x + correction(x, m0);
    m_.insert(m_.begin(), m0);
    sigma_.insert(sigma_.begin(), from);
    const int order = plan_.order(k_, points_);
    if (order < 1 || order > int(m_.size()))
      fail("unipc: step {} needs order {} with {} model outputs", k_, order, m_.size());
    const bool correct = plan_.corrects(k_, points_ - 1);
    const UnipcWeights<at::Tensor> w = unipc_weights(sigma_, to, order, correct, bh1_, predict_x0_);
    at::Tensor incr = per_sample(w.pred[0], x) * m_[0];
    for (size_t j = 1; j < w.pred.size(); ++j) incr = incr + per_sample(w.pred[j], x) * m_[j];
    if (scale.defined()) incr = per_sample(scale, x) * incr;
    const at::Tensor x_pred = per_sample(w.ax, x) * state + incr;
    last_to_ = carried(to);
    // δ = scale·(corr_t·m_t + Σ (corr − pred)·m_j), applied when m_t arrives.
    if (correct) {
      pending_ = {carried(w.corr_t)};
      for (size_t j = 0; j < w.corr.size(); ++j) pending_.push_back(carried(w.corr[j] - w.pred[j]));
      pending_scale_ = carried(scale);
    }
    for (at::Tensor& m : m_) m = carried(m);
    for (at::Tensor& s : sigma_) s = carried(s);
    if (int(m_.size()) > plan_.max_order) {
      m_.resize(size_t(plan_.max_order));
      sigma_.resize(size_t(plan_.max_order));
    }
    return x_pred;
  }

  at::Tensor finish(const at::Tensor& x, const at::Tensor& den) override {
    if (pending_.empty()) return StepRun::finish(x, den);
    return x + correction(x, output(x, den, last_to_));
  }

 private:
  at::Tensor output(const at::Tensor& x, const at::Tensor& den, const at::Tensor& from) const {
    return predict_x0_ ? den : (x - den) / per_sample(from, x);
  }
  // The pending δ given m_t, the model output at the predicted point; clears it.
  at::Tensor correction(const at::Tensor& x, const at::Tensor& m_t) {
    at::Tensor d = per_sample(pending_[0], x) * m_t;
    for (size_t j = 1; j < pending_.size(); ++j) d = d + per_sample(pending_[j], x) * m_[j - 1];
    if (pending_scale_.defined()) d = per_sample(pending_scale_, x) * d;
    pending_.clear();
    return d;
  }

  UnipcPlan plan_;
  bool bh1_, predict_x0_;
  int points_, k_ = 0;
  std::vector<at::Tensor> m_, sigma_;  // model outputs and their σ, newest first
  std::vector<at::Tensor> pending_;    // δ's weights on m_t, m_0, m_1, …
  at::Tensor pending_scale_, last_to_;
};

class UnipcSolver : public Solver {
 public:
  explicit UnipcSolver(const Options& o)
      : common_(CommonOptions::from(o)),
        plan_{int(o.get_int("max_order")), o.get_bool("lower_order_final"),
              o.get_string("final_corrector") == "warmup"},
        bh1_(o.get_string("variant") == "bh1"),
        predict_x0_(o.get_bool("predict_x0")) {}

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
      const int order = plan_.order(i + 1, n);
      const bool correct = plan_.corrects(i + 1, steps);
      std::vector<double> sigma;  // σ of the history, newest first
      for (int k = 0; k < order; ++k) sigma.push_back(hist[size_t(k)].sigma);
      const UnipcWeights<double> w = unipc_weights(sigma, t, order, correct, bh1_, predict_x0_);

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
      if (int(hist.size()) > plan_.max_order + 1) {
        hist.pop_back();
        delta.pop_back();
      }
      if (hooks.on_step) hooks.on_step({i, sigmas[i], t, state(X, hist, delta, false)});
    }
    return state(X, hist, delta, true);
  }

  int64_t expected_nfe(int n) const override {
    const bool extra = plan_.corrects(n - 1, n - 1);  // a corrected last step costs one more call
    return (n - 1) + (extra ? 1 : 0) - (common_.afs ? 1 : 0);
  }

  std::unique_ptr<StepRun> step_run(int points) const override {
    return std::make_unique<UnipcRun>(plan_, bh1_, predict_x0_, points);
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

  CommonOptions common_;
  UnipcPlan plan_;
  bool bh1_, predict_x0_;
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
