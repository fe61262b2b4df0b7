#include "diffusion/schedule.h"

#include <cmath>

#include "core/error.h"
#include "core/registry.h"
#include "diffusion/noise_process.h"

namespace dsx {
namespace {

double lerp_frac(int i, int n) { return double(i) / double(n - 1); }

std::vector<double> polynomial(const ScheduleSpec& s, const NoiseProcess*) {
  std::vector<double> out(s.num_steps);
  double a = std::pow(s.sigma_max, 1.0 / s.rho), b = std::pow(s.sigma_min, 1.0 / s.rho);
  for (int i = 0; i < s.num_steps; ++i) out[i] = std::pow(a + lerp_frac(i, s.num_steps) * (b - a), s.rho);
  return out;
}

std::vector<double> logsnr(const ScheduleSpec& s, const NoiseProcess*) {
  std::vector<double> out(s.num_steps);
  double a = std::log(s.sigma_max), b = std::log(s.sigma_min);
  for (int i = 0; i < s.num_steps; ++i) out[i] = std::exp(a + lerp_frac(i, s.num_steps) * (b - a));
  return out;
}

// Uniform in warped VP time τ^{1/ρ} between the times of σ_max and σ_min. VE models get diff-sampler's
// VP clock fitted so that τ = 1 ↔ σ_max and τ = eps_s ↔ σ_min.
std::vector<double> warped_time(const ScheduleSpec& s, const NoiseProcess* process, double rho) {
  std::vector<double> out(s.num_steps);
  auto grid = [&](const NoiseProcess& clock, double t_hi, double t_lo) {
    double a = std::pow(t_hi, 1.0 / rho), b = std::pow(t_lo, 1.0 / rho);
    for (int i = 0; i < s.num_steps; ++i)
      out[i] = clock.sigma_hat(std::pow(a + lerp_frac(i, s.num_steps) * (b - a), rho));
  };
  if (process == nullptr || process->is_variance_exploding()) {
    if (!(s.eps_s > 0 && s.eps_s < 1)) fail("schedule.eps_s = {} is out of range (0, 1)", s.eps_s);
    grid(VpLinearProcess::fitted_to(s.sigma_min, s.sigma_max, s.eps_s), 1.0, s.eps_s);
  } else {
    grid(*process, process->t_of_sigma_hat(s.sigma_max), process->t_of_sigma_hat(s.sigma_min));
  }
  out.front() = s.sigma_max;  // exact end points (the clock reproduces them only to rounding)
  out.back() = s.sigma_min;
  return out;
}

std::vector<double> time_uniform(const ScheduleSpec& s, const NoiseProcess* p) { return warped_time(s, p, s.rho); }
std::vector<double> time_quadratic(const ScheduleSpec& s, const NoiseProcess* p) { return warped_time(s, p, 2.0); }

std::vector<double> nsr(const ScheduleSpec& s, const NoiseProcess*) {
  // SciRE: log-uniform in σ + kσ_min.
  std::vector<double> out(s.num_steps);
  double shift = s.k * s.sigma_min;
  double a = std::log(s.sigma_max + shift), b = std::log((1.0 + s.k) * s.sigma_min);
  for (int i = 0; i < s.num_steps; ++i) out[i] = std::exp(a + lerp_frac(i, s.num_steps) * (b - a)) - shift;
  out.front() = s.sigma_max;
  out.back() = s.sigma_min;
  return out;
}

std::vector<double> discrete(const ScheduleSpec& s, const NoiseProcess* process) {
  if (process == nullptr || process->is_variance_exploding())
    fail("schedule.kind = discrete needs a VP model (the grid is uniform in the model's own time)");
  // Uniform in t^{1/ρ}; diff-sampler forgets the 1/ρ on t_max (docs/amed.md §10.3) — identical for ρ = 1.
  std::vector<double> out(s.num_steps);
  double a = std::pow(process->t_of_sigma_hat(s.sigma_max), 1.0 / s.rho);
  double b = std::pow(process->t_of_sigma_hat(s.sigma_min), 1.0 / s.rho);
  for (int i = 0; i < s.num_steps; ++i)
    out[i] = process->sigma_hat(std::pow(a + lerp_frac(i, s.num_steps) * (b - a), s.rho));
  out.front() = s.sigma_max;
  out.back() = s.sigma_min;
  return out;
}

std::vector<double> explicit_list(const ScheduleSpec& s, const NoiseProcess*) { return s.sigmas; }

// ρ and eps_s are shared by several kinds: one declaration each, the recommendation per kind.
OptionSpec rho(const std::string& recommended) {
  return opt::number("rho", ScheduleSpec{}.rho, 0, 1000, "the exponent of the warp; recommended: " + recommended)
      .exclusive_min();
}
OptionSpec eps_s() {
  return opt::number("eps_s", ScheduleSpec{}.eps_s, 0, 1,
                     "end time of the VP clock fitted to a VE model (DPM-Solver's 1e-3)")
      .exclusive_min()
      .exclusive_max();
}

}  // namespace

const std::vector<OptionSpec>& schedule_keys() {
  static const std::vector<OptionSpec> keys = [] {
    std::vector<std::string> kinds;
    for (const auto& k : schedule_kinds()) kinds.push_back(k.name);
    OptionSpec sigma_min = opt::number("sigma_min", ScheduleSpec{}.sigma_min, 0, 1e6,
                                       "the last grid point; default: the model's σ_min (explicit: the list's last)")
                               .exclusive_min();
    OptionSpec sigma_max = opt::number("sigma_max", ScheduleSpec{}.sigma_max, 0, 1e6,
                                       "the first grid point; default: the model's σ_max (explicit: the list's first)")
                               .exclusive_min();
    sigma_min.default_value = sigma_max.default_value = "";  // the model's, known only when a spec is read
    OptionSpec num_steps = opt::integer("num_steps", 2, 2, 100000,
                                        "grid points (num_steps − 1 intervals, as in diff-sampler); required, except "
                                        "for explicit (the list's length) and in evaluate (set by each NFE)");
    num_steps.default_value = "";
    return std::vector<OptionSpec>{
        opt::choice("kind", kinds, "polynomial", "how the σ grid is spaced (dsx solvers lists the kinds)"), num_steps,
        sigma_min, sigma_max};
  }();
  return keys;
}

const std::vector<ScheduleKind>& schedule_kinds() {
  static const std::vector<ScheduleKind> kinds = {
      {"polynomial", "EDM/Karras: uniform in σ^(1/ρ)", {rho("7 (EDM's choice for images)")}, polynomial},
      {"logsnr", "uniform in log σ (= half log-SNR)", {}, logsnr},
      {"time_uniform",
       "uniform in VP time^(1/ρ) (diff-sampler's VP fit, eps_s, for VE models)",
       {rho("1 = uniform time (AMED's DPM-Solver recipe), 2 = DEIS's time_quadratic"), eps_s()},
       time_uniform},
      {"time_quadratic", "uniform in sqrt(VP time) (DPM-Solver/SciRE)", {eps_s()}, time_quadratic},
      {"nsr",
       "SciRE NSR: uniform in log(σ + kσ_min)",
       {opt::number("k", ScheduleSpec{}.k, 0, 1e6, "σ_min multiple in the log; SciRE uses 3.1")},
       nsr},
      {"discrete", "uniform in a VP-discrete model's own time^(1/ρ)", {rho("1 = DDIM's uniform steps")}, discrete},
      {"explicit",
       "a user-given list of σ (first entry is σ_max)",
       {opt::number_list("sigmas", "",
                         "strictly decreasing positive σ values, σ_max first; num_steps and the σ "
                         "range default to the list's")},
       explicit_list},
  };
  return kinds;
}

const ScheduleKind& schedule_kind(const std::string& name) {
  return find_entry(schedule_kinds(), name, "schedule.kind");
}

void validate_sigma_grid(const std::vector<double>& s, const std::string& what) {
  if (s.size() < 2) fail("{} must have at least 2 points, got {}", what, s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (!(s[i] > 0.0) || !std::isfinite(s[i])) fail("{}[{}] = {} must be positive and finite", what, i, s[i]);
    if (i > 0 && !(s[i] < s[i - 1]))
      fail("{} must be strictly decreasing: [{}] = {} follows [{}] = {}", what, i, s[i], i - 1, s[i - 1]);
  }
}

std::vector<double> make_schedule(const ScheduleSpec& spec, const NoiseProcess* process) {
  const ScheduleKind& kind = schedule_kind(spec.kind);
  if (spec.kind == "explicit") {
    validate_sigma_grid(spec.sigmas, "schedule.sigmas");
    if (spec.num_steps != 0 && spec.num_steps != int(spec.sigmas.size()))
      fail("schedule.num_steps = {} disagrees with the {} entries of schedule.sigmas", spec.num_steps,
           spec.sigmas.size());
    return spec.sigmas;
  }
  if (spec.num_steps < 2) fail("schedule.num_steps = {} is out of range: need at least 2 grid points", spec.num_steps);
  if (!(spec.sigma_min > 0)) fail("schedule.sigma_min = {} must be positive", spec.sigma_min);
  if (!(spec.sigma_max > spec.sigma_min))
    fail("schedule.sigma_max = {} must be greater than sigma_min = {}", spec.sigma_max, spec.sigma_min);
  if (!(spec.rho > 0) || !std::isfinite(spec.rho)) fail("schedule.rho = {} must be positive", spec.rho);
  if (!(spec.k >= 0) || !std::isfinite(spec.k)) fail("schedule.k = {} must be >= 0", spec.k);
  std::vector<double> grid = kind.make(spec, process);
  validate_sigma_grid(grid, "schedule '" + spec.kind + "'");
  return grid;
}

ScheduleSpec refined(const ScheduleSpec& spec, int m) {
  if (m < 0) fail("M = {} must be >= 0", m);
  if (spec.kind == "explicit") {
    // Insert M log-uniform points inside each interval of an explicit grid.
    ScheduleSpec out = spec;
    out.sigmas.clear();
    for (size_t i = 0; i + 1 < spec.sigmas.size(); ++i)
      for (int j = 0; j <= m; ++j)
        out.sigmas.push_back(j == 0
                                 ? spec.sigmas[i]  // student points stay bit-identical
                                 : std::exp(std::log(spec.sigmas[i]) +
                                            (std::log(spec.sigmas[i + 1]) - std::log(spec.sigmas[i])) * j / (m + 1.0)));
    out.sigmas.push_back(spec.sigmas.back());
    out.num_steps = int(out.sigmas.size());
    return out;
  }
  ScheduleSpec out = spec;
  out.num_steps = (m + 1) * (spec.num_steps - 1) + 1;
  return out;
}

bool same_sigma(double a, double b) { return std::abs(a - b) <= kSameSigmaRtol * std::max(std::abs(a), std::abs(b)); }

bool same_grid(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!same_sigma(a[i], b[i])) return false;
  return true;
}

}  // namespace dsx
