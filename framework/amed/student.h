#pragma once
// One AMED-Solver / AMED-Plugin trajectory, advanced interval by interval (docs/amed.md §5). Sampling
// and training share this code: with grad mode on, the result is differentiable w.r.t. the predictor's
// parameters (through the frozen model's input x_s and noise level a·s).
#include <memory>
#include <vector>

#include <ATen/ATen.h>

#include "amed/predictor.h"
#include "amed/settings.h"
#include "models/denoiser.h"
#include "solvers/multistep.h"
#include "solvers/solver.h"

namespace dsx {

// The predictor's input: the model's bottleneck at σ_i averaged over channels (official), zeros (an
// input-independent schedule), or pooled over channels with learned weights (AmedPredictorImpl::pool).
enum class FeatureMode { Model, Zero, Pooled };
FeatureMode feature_mode(const std::string& name);  // "model" | "zero" | "pooled"
std::string feature_mode_name(FeatureMode m);

// The base solver whose step-level form (solvers/multistep.h) a student runs on its refined grid σ_0, s_0,
// σ_1, …: euler, ipndm and dpmpp, built with the settings' max_order / predict_x0 / lower_order_final. Null
// for the two-stage students (amed, dpm2), whose second stage starts again from x_i.
std::shared_ptr<const Solver> student_base(const AmedSettings& settings);

class AmedStudent {
 public:
  // `base`: the multistep base solver (student_base(settings) when not given; the registry's AMED-Plugin
  // passes the base it built from the same options).
  AmedStudent(AmedSettings settings, std::vector<double> sigmas, AmedPredictor net, FeatureMode features,
              CommonOptions common = {}, std::shared_ptr<const Solver> base = nullptr);
  // Start of a trajectory: clears multistep history and the AFS state.
  void reset();
  // x at sigmas[i] → x at sigmas[i+1] (2 model calls, 1 under AFS at i = 0). `out` receives r, c, a
  // (in x's dtype). i = 0 starts a trajectory (clears the history); multistep students (ipndm, dpmpp) need
  // the intervals in order. Settings used: student and afs (settings, not common); common supplies
  // thresholding only.
  at::Tensor step(const Denoiser& model, const at::Tensor& x, int i, AmedOutput* out = nullptr);
  // Gradients through the multistep history across intervals (joint training); off by default.
  void keep_graph(bool on) { keep_graph_ = on; }
  // Whole run (sampling): reset, then every interval.
  at::Tensor sample(const Denoiser& model, at::Tensor x, const SampleHooks& hooks = {});

  const AmedSettings& settings() const { return settings_; }
  const std::vector<double>& sigmas() const { return sigmas_; }
  AmedPredictor& net() { return net_; }

 private:
  // D(x, σ) with per-sample σ [B] (thresholded when common.dynamic_threshold), counted.
  at::Tensor data(const Denoiser& model, const at::Tensor& x, const at::Tensor& sigma, Features* f = nullptr);
  // The predictor's input [B, 8, 8] from the features of the evaluation at σ_i (zeros without one: AFS,
  // features: zero, or a model that defines none).
  at::Tensor features(const Features* evaluated, const at::Tensor& x) const;
  AmedSettings settings_;
  std::vector<double> sigmas_;
  AmedPredictor net_;
  FeatureMode features_;
  CommonOptions common_;
  std::shared_ptr<const Solver> base_;  // multistep students: the base solver, whose step form run_ is
  std::unique_ptr<StepRun> run_;        // on the refined grid of 2N − 1 points
  int64_t calls_ = 0;
  bool keep_graph_ = false;
};

}  // namespace dsx
