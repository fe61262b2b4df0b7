#include "learned/epd.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"
#include "diffusion/schedule.h"
#include "store/h5.h"
#include "store/tensor_h5.h"

namespace dsx {

EpdParams neutral_epd(const std::vector<double>& sigmas, int64_t k, bool afs, double scale_c, double scale_a) {
  validate_sigma_grid(sigmas, "epd grid");
  if (k < 1) fail("epd: points per step = {} must be >= 1", k);
  const int64_t steps = int64_t(sigmas.size()) - 1;
  EpdParams p;
  p.r = at::zeros({steps, k}, at::kDouble);
  p.w = at::zeros({steps, k}, at::kDouble);
  p.c = at::zeros({steps, k}, at::kDouble);
  p.a = at::zeros({steps, k}, at::kDouble);
  p.scale_c = scale_c;
  p.scale_a = scale_a;
  p.sigmas = sigmas;
  p.afs = afs;
  return p;
}

EpdCoefficients epd_coefficients(const EpdParams& p) {
  auto bounded = [](const at::Tensor& logit, double scale) {
    return 1.0 + scale * (2.0 * at::sigmoid(logit / 2) - 1.0);
  };
  return {at::sigmoid(p.r), at::softmax(p.w, 1), bounded(p.c, p.scale_c), bounded(p.a, p.scale_a)};
}

at::Tensor epd_sample(const Denoiser& model, const at::Tensor& x_T, const EpdParams& p) {
  const EpdCoefficients k = epd_coefficients(p);
  const int64_t b = x_T.size(0), points = p.points_per_step();
  const at::ScalarType dtype = x_T.scalar_type();
  auto per_sample = [&](const at::Tensor& scalar) { return scalar.to(dtype).expand({b}); };
  auto broadcast = [&](const at::Tensor& v) {  // [B] → [B, 1, …]
    std::vector<int64_t> shape(size_t(x_T.dim()), 1);
    shape[0] = b;
    return v.reshape(shape);
  };
  at::Tensor x = x_T;
  for (int64_t n = 0; n < p.steps(); ++n) {
    const double from = p.sigmas[size_t(n)], to = p.sigmas[size_t(n + 1)];
    const at::Tensor d = n == 0 && p.afs ? x / std::sqrt(1.0 + from * from)
                                         : (x - model.denoise(x, at::full({b}, from, x.options()))) / from;
    at::Tensor combined = at::zeros_like(x);
    for (int64_t j = 0; j < points; ++j) {
      const at::Tensor tau =
          at::pow(at::full({}, to, at::kDouble), k.r[n][j]) * at::pow(at::full({}, from, at::kDouble), 1.0 - k.r[n][j]);
      const at::Tensor tau_b = broadcast(per_sample(tau));
      const at::Tensor x_mid = x + (tau_b - from) * d;
      const at::Tensor den = model.denoise(x_mid, per_sample(k.a[n][j] * tau));
      combined = combined + broadcast(per_sample(k.w[n][j] * k.c[n][j])) * (x_mid - den) / tau_b;
    }
    x = x + (to - from) * combined;
  }
  return x;
}

void save_epd(const std::string& path, const EpdParams& p) {
  h5::File f = h5::File::create(path);
  f.set_attr("method", std::string("epd"));
  f.set_attr("points_per_step", p.points_per_step());
  f.set_attr("afs", int64_t(p.afs));
  f.set_attr("scale_c", p.scale_c);
  f.set_attr("scale_a", p.scale_a);
  f.set_attr("schedule", p.schedule);
  f.write("sigmas", {int64_t(p.sigmas.size())}, p.sigmas.data());
  h5::write_tensor(f, "r", p.r.detach());
  h5::write_tensor(f, "w", p.w.detach());
  h5::write_tensor(f, "c", p.c.detach());
  h5::write_tensor(f, "a", p.a.detach());
  f.close();
}

EpdParams load_epd(const std::string& path) {
  EpdParams p;
  try {
    const h5::File f = h5::File::open(path);
    if (!f.has_attr("method") || f.attr_string("method") != "epd") fail("not an EPD parameter file (method != epd)");
    p.afs = f.attr_int("afs") != 0;
    p.scale_c = f.attr_double("scale_c");
    p.scale_a = f.attr_double("scale_a");
    p.schedule = f.attr_string("schedule");
    p.sigmas = f.read_double("sigmas");
    p.r = h5::read_tensor(f, "r");
    p.w = h5::read_tensor(f, "w");
    p.c = h5::read_tensor(f, "c");
    p.a = h5::read_tensor(f, "a");
  } catch (const Error& e) {
    fail("{}: {}", path, e.what());
  }
  validate_sigma_grid(p.sigmas, path + ": sigmas");
  const int64_t steps = int64_t(p.sigmas.size()) - 1;
  for (const auto& t : p.tensors())
    if (t.dim() != 2 || t.size(0) != steps || t.size(1) != p.r.size(1) || !at::isfinite(t).all().item<bool>())
      fail("{}: the EPD logits must be finite [{}, K] tables, one row per step", path, steps);
  return p;
}

namespace {

class EpdSolver : public Solver {
 public:
  explicit EpdSolver(EpdParams p) : p_(std::move(p)) {}
  at::Tensor sample(const Denoiser& model, at::Tensor x, const std::vector<double>& sigmas,
                    const SampleHooks& hooks) const override {
    if (sigmas.size() != p_.sigmas.size() || !std::equal(sigmas.begin(), sigmas.end(), p_.sigmas.begin(), same_sigma))
      fail("epd: the parameters were learned on their own {}-point grid; sample on it (schedule: the file's sigmas)",
           p_.sigmas.size());
    at::NoGradGuard no_grad;
    x = epd_sample(model, x, p_);
    if (hooks.on_step)
      hooks.on_step({int(sigmas.size()) - 2, sigmas[sigmas.size() - 2], sigmas.back(), x});  // the final state only
    return x;
  }
  int64_t expected_nfe(int num_points) const override {
    return num_points == int(p_.sigmas.size()) ? p_.total_nfe() : 0;
  }
  int min_points() const override { return int(p_.sigmas.size()); }

 private:
  EpdParams p_;
};

}  // namespace

SolverEntry epd_solver_entry() {
  SolverEntry e;
  e.name = "epd";
  e.summary = "EPD: K parallel intermediate directions per step with learned (r, w, c, a) (train_epd)";
  e.paper = "Zhu et al., ICCV 2025 (arXiv 2507.14797); BeierZhu/EPD";
  e.nfe_rule = "(N−1)(1+K) − afs model calls; 2(N−1) − afs sequential rounds";
  e.order = "2 (neutral: the geometric midpoint)";
  e.options = {opt::path("epd.params", "EPD parameters (epd.h5 from a train_epd stage); sampled on their own grid")};
  e.needs_file = true;
  e.make = [](const Options& o) -> std::unique_ptr<Solver> {
    EpdParams p = load_epd(o.get_string("epd.params"));
    if (o.get_bool("afs") != p.afs)
      fail("solver.afs = {}: {} was learned with afs = {}; set solver.afs: {}", o.get_bool("afs"),
           o.get_string("epd.params"), p.afs, p.afs);
    return std::make_unique<EpdSolver>(std::move(p));
  };
  return e;
}

}  // namespace dsx
