#pragma once
// Noise processes x_t = α_t x0 + σ_t ε and their EDM view x̂ = x/α, σ̂ = σ/α (docs/solvers.md §1).
// Solvers only ever see σ̂; these classes convert times for VP models (model input labels, schedules
// uniform in t) and are all double precision.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/options.h"

namespace dsx {

class NoiseProcess {
 public:
  virtual ~NoiseProcess() = default;
  virtual std::string kind() const = 0;
  virtual std::string describe() const = 0;  // canonical text with parameters (fingerprints, logs)

  virtual double log_alpha(double t) const = 0;
  virtual double sigma_hat(double t) const = 0;           // σ̂(t) = σ_t/α_t
  virtual double t_of_sigma_hat(double sigma) const = 0;  // inverse of σ̂(t)
  virtual double t_min() const = 0;                       // time range the process is defined on
  virtual double t_max() const = 0;
  // Time label the network is fed (e.g. 999 for DDPM step t=1). Identity unless the model says otherwise.
  virtual double model_time(double t) const { return t; }
  // True for VE/EDM: t is σ itself and "time-uniform" schedules need a fitted VP clock instead.
  virtual bool is_variance_exploding() const { return false; }

  double alpha(double t) const;
  double sigma(double t) const;   // VP σ_t = α_t σ̂(t)
  double lambda(double t) const;  // half log-SNR = −log σ̂
};

// VE / EDM: t ≡ σ, α ≡ 1.
class VeProcess : public NoiseProcess {
 public:
  std::string kind() const override { return "ve"; }
  std::string describe() const override { return "ve"; }
  double log_alpha(double) const override { return 0.0; }
  double sigma_hat(double t) const override { return t; }
  double t_of_sigma_hat(double s) const override { return s; }
  double t_min() const override { return 0.0; }
  double t_max() const override { return 1e300; }
  bool is_variance_exploding() const override { return true; }
};

// Continuous VP with linear β(t) = β0 + t(β1 − β0), t ∈ [0, T]: log α = −¼t²(β1−β0) − ½tβ0.
class VpLinearProcess : public NoiseProcess {
 public:
  VpLinearProcess(double beta0 = 0.1, double beta1 = 20.0, double t_end = 1.0);
  // diff-sampler's VP fit whose σ̂ at t=1 and t=eps_s are exactly sigma_max and sigma_min (docs/amed.md §2).
  static VpLinearProcess fitted_to(double sigma_min, double sigma_max, double eps_s = 1e-3);
  std::string kind() const override { return "vp_linear"; }
  std::string describe() const override;
  double log_alpha(double t) const override;
  double sigma_hat(double t) const override;
  double t_of_sigma_hat(double s) const override;
  double t_min() const override { return 0.0; }
  double t_max() const override { return t_end_; }
  double beta0() const { return beta0_; }
  double beta1() const { return beta1_; }

 private:
  double beta0_, beta1_, t_end_;
};

// Improved-DDPM cosine: α_t = cos((t+s)/(1+s)·π/2)/cos(s/(1+s)·π/2), t ∈ [0, 0.9946].
class VpCosineProcess : public NoiseProcess {
 public:
  explicit VpCosineProcess(double s = 0.008, double t_end = 0.9946);
  std::string kind() const override { return "vp_cosine"; }
  std::string describe() const override;
  double log_alpha(double t) const override;
  double sigma_hat(double t) const override;
  double t_of_sigma_hat(double s) const override;
  double t_min() const override { return 0.0; }
  double t_max() const override { return t_end_; }

 private:
  double s_, t_end_, log_alpha0_;
};

// Discrete-time VP from a β table (DDPM): α_n = sqrt(Π_{i≤n}(1−β_i)) at t_n = (n+1)/N, log α linearly
// interpolated (and extrapolated) in t, as DPM-Solver's NoiseScheduleVP('discrete'). Model label
// (t − 1/N)·N, i.e. the integer step index at grid times (dpm-solver hard-codes 1000 = N for DDPM).
class VpDiscreteProcess : public NoiseProcess {
 public:
  explicit VpDiscreteProcess(std::vector<double> betas);
  static std::vector<double> ddpm_linear_betas(int n = 1000, double beta_start = 1e-4, double beta_end = 0.02);
  std::string kind() const override { return "vp_discrete"; }
  std::string describe() const override;
  double log_alpha(double t) const override;
  double sigma_hat(double t) const override;
  double t_of_sigma_hat(double s) const override;
  double t_min() const override { return ts_.front(); }
  double t_max() const override { return ts_.back(); }
  double model_time(double t) const override;

 private:
  std::vector<double> ts_, log_alphas_;
  std::string digest_;
};

// The VP processes a network can be trained on (model.process of eps|x0|v networks): each declares its keys
// (defaults, ranges, help); `make` gets them resolved, plus the list-valued `betas` (empty when not given).
struct NoiseProcessKind {
  std::string name;
  std::string description;
  std::vector<OptionSpec> options;
  std::function<std::shared_ptr<const NoiseProcess>(const Options&, const std::vector<double>& betas)> make;
};
const std::vector<NoiseProcessKind>& noise_process_kinds();

}  // namespace dsx
