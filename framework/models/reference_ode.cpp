#include "models/reference_ode.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <boost/numeric/odeint/stepper/bulirsch_stoer.hpp>
#include <boost/numeric/odeint/stepper/controlled_runge_kutta.hpp>
#include <boost/numeric/odeint/stepper/generation.hpp>
#include <boost/numeric/odeint/stepper/runge_kutta_dopri5.hpp>
#include <boost/numeric/odeint/stepper/runge_kutta_fehlberg78.hpp>
#include <cmath>
#include <mutex>

#include "core/error.h"

namespace dsx {

const std::vector<std::string>& reference_integrators() {
  static const std::vector<std::string> names{"rkf78", "bulirsch_stoer", "dopri5"};
  return names;
}

namespace {

namespace odeint = boost::numeric::odeint;
using State = std::vector<double>;  // the flattened batch: odeint's plain range algebra, no per-step allocation

// dx/du = x − D(x, e^u), D from the model's raw row kernel or its denoise(). odeint copies the system, so it
// holds pointers.
class LogSigmaFlow {
 public:
  LogSigmaFlow(const Denoiser& model, std::vector<int64_t> shape, int64_t* evaluations, const RowDenoiser* raw)
      : model_(&model), shape_(std::move(shape)), evaluations_(evaluations), raw_(raw && *raw ? raw : nullptr) {}

  void operator()(const State& x, State& dxdu, double u) const {
    ++*evaluations_;
    const double sigma = std::exp(u);
    if (raw_) {
      (*raw_)(x.data(), sigma, dxdu.data());
    } else {
      const at::Tensor xs = at::from_blob(const_cast<double*>(x.data()), shape_, at::kDouble);
      const ModelInfo& info = model_->info();
      const at::Tensor input = xs.to(info.device, info.dtype);  // no copy for a float64 CPU model
      at::from_blob(dxdu.data(), shape_, at::kDouble).copy_(model_->denoise(input, sigma_like(input, sigma)));
    }
    for (size_t j = 0; j < x.size(); ++j) {  // dxdu holds D here
      if (!std::isfinite(dxdu[j])) fail("reference ODE: the model returned NaN/Inf at σ = {:.6g}", sigma);
      dxdu[j] = x[j] - dxdu[j];
    }
  }

 private:
  const Denoiser* model_;
  std::vector<int64_t> shape_;
  int64_t* evaluations_;
  const RowDenoiser* raw_;
};

// Steps from u to u_end with `stepper`'s control, landing exactly on u_end.
template <class Stepper>
void integrate(Stepper& stepper, const LogSigmaFlow& flow, State& x, double u, double u_end,
               const OdeProgress& progress, OdeSolution& out) {
  const double u_start = u, dir = u_end < u ? -1.0 : 1.0;
  double h = dir * std::min(0.01, std::abs(u_end - u));
  while (dir * (u_end - u) > 0) {
    const bool last = dir * (u + h - u_end) >= 0;
    if (last) h = u_end - u;
    if (stepper.try_step(flow, x, u, h) == odeint::success) {
      ++out.accepted_steps;
      if (last) u = u_end;  // u + (u_end − u) may round short of u_end
      if (progress) progress((u - u_start) / (u_end - u_start));
    } else {
      ++out.rejected_steps;
      if (std::abs(h) < 1e-14) fail("reference ODE: step size underflow at σ = {:.6g}", std::exp(u));
    }
  }
}

OdeSolution solve_together(const Denoiser& model, const at::Tensor& start, double sigma_from, double sigma_to,
                           const OdeSolveOptions& o, const OdeProgress& progress) {
  OdeSolution out;
  State x(start.data_ptr<double>(), start.data_ptr<double>() + start.numel());
  if (sigma_from != sigma_to) {
    const LogSigmaFlow flow(model, start.sizes().vec(), &out.evaluations,
                            start.size(0) == 1 ? &o.row_denoiser : nullptr);
    const double u = std::log(sigma_from), u_end = std::log(sigma_to);
    if (o.integrator == "rkf78") {
      auto stepper = odeint::make_controlled(o.atol, o.rtol, odeint::runge_kutta_fehlberg78<State>());
      integrate(stepper, flow, x, u, u_end, progress, out);
    } else if (o.integrator == "dopri5") {
      auto stepper = odeint::make_controlled(o.atol, o.rtol, odeint::runge_kutta_dopri5<State>());
      integrate(stepper, flow, x, u, u_end, progress, out);
    } else {
      odeint::bulirsch_stoer<State> stepper(o.atol, o.rtol);
      integrate(stepper, flow, x, u, u_end, progress, out);
    }
  }
  out.x = at::from_blob(x.data(), start.sizes(), at::kDouble).clone();
  return out;
}

// Each row its own solve, rows in parallel: every thread takes the next unsolved row (rows differ in their
// step counts, so a static split left one thread idle), and the model's own kernels run serially inside.
OdeSolution solve_rows(const Denoiser& model, const at::Tensor& start, double sigma_from, double sigma_to,
                       const OdeSolveOptions& o) {
  const int64_t n = start.size(0);
  std::vector<OdeSolution> rows(static_cast<size_t>(n));
  std::mutex reporting;
  std::atomic<int64_t> next{0};
  int64_t done = 0;
  at::parallel_for(0, std::min<int64_t>(n, at::get_num_threads()), 1, [&](int64_t, int64_t) {
    try {
      for (int64_t i = next++; i < n; i = next++) {
        rows[size_t(i)] = solve_together(model, start.narrow(0, i, 1), sigma_from, sigma_to, o, {});
        const std::lock_guard<std::mutex> lock(reporting);
        ++done;
        if (o.progress) o.progress(double(done) / double(n));  // may throw to stop the solve (a probe)
      }
    } catch (...) {
      next = n;  // the other threads take no further rows; parallel_for rethrows this
      throw;
    }
  });
  OdeSolution out;
  std::vector<at::Tensor> xs;
  for (const OdeSolution& r : rows) {
    xs.push_back(r.x);
    out.accepted_steps += r.accepted_steps;
    out.rejected_steps += r.rejected_steps;
    out.evaluations += r.evaluations;
  }
  out.x = at::cat(xs);
  return out;
}

}  // namespace

OdeSolution solve_reference_ode(const Denoiser& model, const at::Tensor& x0, double sigma_from, double sigma_to,
                                const OdeSolveOptions& o) {
  if (!(sigma_from > 0 && sigma_to > 0)) fail("reference ODE: sigmas must be positive");
  if (!(o.rtol > 0 && o.atol > 0)) fail("reference ODE: rtol = {:g} and atol = {:g} must be > 0", o.rtol, o.atol);
  const auto& names = reference_integrators();
  if (std::find(names.begin(), names.end(), o.integrator) == names.end())
    fail("reference ODE: integrator '{}' is not one of {}", o.integrator, fmt::join(names, ", "));
  at::NoGradGuard no_grad;
  const at::Tensor start = x0.to(at::kCPU, at::kDouble).contiguous();
  OdeSolution out = o.per_row && start.size(0) > 1 ? solve_rows(model, start, sigma_from, sigma_to, o)
                                                   : solve_together(model, start, sigma_from, sigma_to, o, o.progress);
  out.x = out.x.to(x0.options());
  return out;
}

std::string reference_integrator_for(double rtol) { return rtol >= 1e-7 ? "dopri5" : "rkf78"; }

at::Tensor reference_solution(const Denoiser& model, const at::Tensor& x, double sigma_from, double sigma_to,
                              double rtol, const OdeProgress& progress) {
  if (const ExactOde* exact = model.exact()) return exact->ode_solution(x, sigma_from, sigma_to, progress);
  OdeSolveOptions o;
  o.rtol = o.atol = rtol;
  o.integrator = reference_integrator_for(rtol);
  o.progress = progress;
  return solve_reference_ode(model, x, sigma_from, sigma_to, o).x;
}

std::string reference_method(const Denoiser& model, double rtol) {
  return model.exact() ? "exact" : fmt::format("{}/{:g}", reference_integrator_for(rtol), rtol);
}

}  // namespace dsx
