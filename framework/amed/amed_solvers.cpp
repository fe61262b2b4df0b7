// Catalog glue of AMED (docs/amed.md §5): loads the predictor file, reconciles its stored settings with
// the solver options and the σ grid, and runs an AmedStudent without gradients.
#include "amed/amed_solvers.h"

#include <cmath>
#include <set>

#include "amed/student.h"
#include "core/error.h"
#include "diffusion/schedule.h"

namespace dsx {
namespace {

std::string on_off(bool b) { return b ? "true" : "false"; }

class AmedSolver : public Solver {
 public:
  AmedSolver(const std::string& student, const Options& o, std::unique_ptr<Solver> base)
      : common_(CommonOptions::from(o)) {
    if (base && base->step_run(3)) base_ = std::move(base);
    if (!o.has("amed.predictor"))
      fail("solver '{}' needs solver.amed.predictor: the path of a trained AMED predictor (HDF5 weights file)",
           student);
    path_ = o.get_string("amed.predictor");
    if (student == "dpm2" && o.get_double("r") != 0.5)
      fail(
          "solver.r = {} has no effect with solver.amed.predictor: the predictor supplies r per step (leave r "
          "unset)",
          o.get_double("r"));
    if (student == "dpmpp" && o.get_string("variant") != "faithful")
      fail("solver.variant = {}: the AMED-Plugin on dpmpp implements the official (faithful) DPM-Solver++ only",
           o.get_string("variant"));

    LoadedPredictor lp = load_predictor(path_);
    // The predictor's input: as trained (the file says), unless the option names one (an ablation may feed a
    // predictor trained on the model's features zeros).
    const std::string trained = lp.settings ? lp.settings->features : "model", asked = o.get_string("amed.features");
    features_ = feature_mode(asked == "trained" ? trained : asked);
    net_ = lp.net;
    net_->eval();
    AmedSettings s;
    s.student = student;
    s.afs = common_.afs;
    if (!is_official_plugin_base(student))
      for (const SolverEntry& e : base_solver_entries())
        if (e.name == student) s.base_options = base_option_text(e, o);
    if (student == "ipndm" || student == "dpmpp") s.max_order = int(o.get_int("max_order"));
    if (student == "dpmpp") {
      s.predict_x0 = o.get_bool("predict_x0");
      s.lower_order_final = o.get_bool("lower_order_final");
    }
    if (lp.settings) {
      const AmedSettings& f = *lp.settings;
      auto differ = [&](const std::string& what, const std::string& file_value, const std::string& option_value) {
        fail(
            "{}: the AMED predictor was trained with {} = {}, but the solver has {} = {}; use the predictor's "
            "setting or a predictor trained for this one",
            path_, what, file_value, what, option_value);
      };
      if (f.student != student)
        fail("{}: the AMED predictor was trained for student '{}', but it is used with solver '{}'", path_, f.student,
             student);
      if (f.afs != s.afs) differ("afs", on_off(f.afs), on_off(s.afs));
      if (f.base_options != s.base_options) differ("the base options", f.base_options, s.base_options);
      if ((student == "ipndm" || student == "dpmpp") && f.max_order != s.max_order)
        differ("max_order", std::to_string(f.max_order), std::to_string(s.max_order));
      if (student == "dpmpp") {
        if (f.predict_x0 != s.predict_x0) differ("predict_x0", on_off(f.predict_x0), on_off(s.predict_x0));
        if (f.lower_order_final != s.lower_order_final)
          differ("lower_order_final", on_off(f.lower_order_final), on_off(s.lower_order_final));
      }
      s.teacher = f.teacher;
      s.m = f.m;
      s.schedule = f.schedule;
      from_file_ = true;
    } else {
      s.schedule.kind = "explicit";  // parameters-only file: the grid is whatever sample() is given
    }
    s.scale_dir = net_->scale_dir();
    s.scale_time = net_->scale_time();
    settings_ = s;
  }

  at::Tensor sample(const Denoiser& model, at::Tensor x, const std::vector<double>& sigmas,
                    const SampleHooks& hooks) const override {
    AmedSettings s = settings_;
    if (from_file_) {
      check_grid_matches(sigmas, model);
    } else {
      s.schedule.sigmas = sigmas;
      s.schedule.num_steps = int(sigmas.size());
    }
    at::NoGradGuard no_grad;
    AmedStudent student(s, sigmas, net_, features_, common_, base_);
    return student.sample(model, std::move(x), hooks);
  }

  int64_t expected_nfe(int n) const override { return 2 * (n - 1) - (common_.afs ? 1 : 0); }

 private:
  void check_grid_matches(const std::vector<double>& sigmas, const Denoiser& model) const {
    const ScheduleSpec& spec = settings_.schedule;
    std::vector<double> want = make_schedule(spec, model.info().process.get());
    std::string trained = fmt::format("schedule {} with num_steps = {}, sigma_min = {}, sigma_max = {}, rho = {}",
                                      spec.kind, spec.num_steps, spec.sigma_min, spec.sigma_max, spec.rho);
    if (want.size() != sigmas.size())
      fail("{}: the AMED predictor was trained on a {}-point grid ({}), but the schedule has {} points", path_,
           want.size(), trained, sigmas.size());
    for (size_t k = 0; k < want.size(); ++k)
      if (!same_sigma(sigmas[k], want[k]))
        fail("{}: the AMED predictor was trained on {} whose sigma[{}] = {}, but the schedule's sigma[{}] = {}", path_,
             trained, k, want[k], k, sigmas[k]);
  }

  CommonOptions common_;
  std::shared_ptr<const Solver> base_;  // multistep students: the base whose step-level form they run
  std::string path_;
  FeatureMode features_ = FeatureMode::Model;
  AmedPredictor net_{nullptr};
  AmedSettings settings_;
  bool from_file_ = false;
};

}  // namespace

bool is_official_plugin_base(const std::string& name) {
  return name == "euler" || name == "dpm2" || name == "ipndm" || name == "dpmpp";
}

bool is_amed_plugin_base(const std::string& name) {
  if (is_official_plugin_base(name)) return true;
  static const std::set<std::string> stepped = [] {
    std::set<std::string> out;  // the bases whose default build has a step form
    for (const SolverEntry& e : base_solver_entries())
      if (e.make(Options::resolve(all_option_specs(e), {}, ""))->step_run(3)) out.insert(e.name);
    return out;
  }();
  return stepped.count(name) > 0;
}

std::string base_option_text(const SolverEntry& entry, const Options& resolved) {
  Options own;
  for (const OptionSpec& spec : entry.options)
    if (spec.name.rfind("amed.", 0) != 0 && resolved.has(spec.name))
      own.set(spec.name, resolved.values().at(spec.name));
  return own.canonical();
}

std::vector<OptionSpec> amed_option_specs(bool predictor_required) {
  OptionSpec predictor = opt::path(
      "amed.predictor",
      predictor_required ? "AMED predictor weights (HDF5, official parameter names); required"
                         : "AMED predictor weights (HDF5): turns this solver into its AMED-Plugin (2 model calls per "
                           "interval)");
  if (predictor_required) predictor = std::move(predictor).required_key();
  return {
      predictor,
      opt::choice("amed.features", {"trained", "model", "zero", "pooled"}, "trained",
                  "predictor input: as the predictor file says it was trained (trained; files without the attribute: "
                  "model), the model's 8x8 bottleneck at σ_i (model), zeros (zero, a fixed learned schedule) or the "
                  "bottleneck pooled with the predictor's learned channel weights (pooled)"),
  };
}

std::unique_ptr<Solver> make_amed_solver(const std::string& student, const Options& options,
                                         std::unique_ptr<Solver> base) {
  return std::make_unique<AmedSolver>(student, options, std::move(base));
}

std::vector<SolverEntry> amed_family() {
  SolverEntry e{"amed",
                "AMED-Solver: Euler to a learned s = σ_{i+1}^r σ_i^{1−r}, then the whole step along c·d(x_s, a·s)",
                "Zhou et al. 2024 (AMED, CVPR); zju-pi/diff-sampler amed-solver-main amed_sampler",
                "2(N−1) (−1 with afs)",
                "learned (trained for one grid)",
                amed_option_specs(true),
                [](const Options& o) { return make_amed_solver("amed", o); }};
  e.needs_file = true;
  return {e};
}

}  // namespace dsx
