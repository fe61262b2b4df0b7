#include "pipeline/sample_run.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <optional>

#include <fmt/format.h>

#include "core/error.h"
#include "core/noise.h"
#include "core/progress.h"
#include "models/reference_ode.h"
#include "pipeline/ode_reference.h"
#include "solvers/solver.h"
#include "store/h5.h"
#include "store/tensor_h5.h"

namespace dsx {
namespace {

at::Tensor load_latents(const SampleConfig& c, const ModelInfo& info) {
  if (!c.seeds.empty()) return seeded_noise(c.seeds, info.sample_shape, at::TensorOptions().dtype(at::kDouble));
  h5::File f = h5::File::open(c.latents_file);
  if (!f.has(c.latents_dataset))
    fail("{}: dataset '{}' not found (latents must be [B, {}])", c.latents_file, c.latents_dataset,
         shape_text(info.sample_shape).substr(1));
  at::Tensor z = h5::read_tensor(f, c.latents_dataset);
  std::vector<int64_t> want(info.sample_shape);
  if (z.dim() != int64_t(want.size()) + 1 || !z.sizes().slice(1).equals(want))
    fail("{}: dataset '{}' has shape {}, the model needs [B, {}", c.latents_file, c.latents_dataset,
         shape_text(z.sizes()), shape_text(want).substr(1));
  if (z.size(0) == 0) fail("{}: dataset '{}' holds no samples", c.latents_file, c.latents_dataset);
  if (!at::isfinite(z).all().item<bool>()) fail("{}: dataset '{}' contains NaN/Inf", c.latents_file, c.latents_dataset);
  return z;
}

// `reference: auto` computes the exact ODE solution when it costs at most kCheapRatio × the sampling or
// kCheapSeconds, estimated from a solve of kProbeRows rows (the reference is solved in chunks of that many,
// pipeline/ode_reference.h, so the whole costs about one chunk per chunk) that
// stops after a tenth of that allowance (at least 0.2 s) and extrapolates from the share of the solve it covered
// (of the log σ range, or of the rows where each row is its own solve): an estimate, so tests that need the number ask
// for `reference: exact`. A cached one is always used.
constexpr double kCheapRatio = 10.0, kCheapSeconds = 5.0, kProbeShare = 0.1, kMinProbeSeconds = 0.2;
constexpr int64_t kProbeRows = 64;

struct ProbeStopped {};

// Seconds the whole solve of `rows` of z64 would take, from a probe of kProbeRows rows.
double estimate_reference_seconds(const ExactOde& exact, const at::Tensor& z64, double from, double to,
                                  double allowance) {
  const int64_t rows = std::min(kProbeRows, z64.size(0));
  const double scale = std::ceil(double(z64.size(0)) / double(rows));                // chunks
  const double limit = std::max(kMinProbeSeconds, kProbeShare * allowance / scale);  // short probes extrapolate badly
  const auto t0 = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
  double covered = 0;
  try {
    exact.ode_solution(from * z64.narrow(0, 0, rows), from, to, [&](double fraction) {
      covered = fraction;
      if (elapsed() > limit && fraction < 1) throw ProbeStopped{};
    });
    covered = 1;
  } catch (const ProbeStopped&) {
  }
  return covered > 0 ? elapsed() / covered * scale : std::numeric_limits<double>::infinity();
}

// The exact ODE solution from σ_max·z (float64) that the samples are scored against, or nothing (no exact
// solution, `reference: none`, or too costly for `auto`: out.reference_note says so and how to ask).
std::optional<at::Tensor> exact_reference(const SampleConfig& c, const at::Tensor& z, SampleOutcome& out,
                                          const cache::Cache* cache,
                                          const std::function<void(const std::string&)>& log) {
  const ExactOde* exact = c.model->num_classes() == 0 ? c.model->exact() : nullptr;
  if (c.reference == "none") return std::nullopt;
  if (!exact) {
    if (c.reference == "exact")
      fail(
          "reference: exact, but the model ({}) has no exact ODE solution (the mixtures, Gaussians and the "
          "empirical mixture have one)",
          c.model->info().kind);
    return std::nullopt;
  }
  const double from = out.sigmas.front(), to = out.sigmas.back();
  const at::Tensor z64 = z.to(at::kDouble).cpu();
  std::optional<OdeReferenceRequest> request;  // seeded latents can be cached (and found) under evaluate's key
  bool cached = false;
  if (cache && !c.seeds.empty()) {
    request = OdeReferenceRequest{c.seeds, z64, from, to, kNetworkReferenceRtol};
    cached = cache->lookup(ode_reference_key(*c.model, *request), nullptr).has_value();
  }
  if (c.reference == "auto" && !cached) {
    const double allowance = std::max(kCheapSeconds, kCheapRatio * out.seconds);
    const double estimate = estimate_reference_seconds(*exact, z64, from, to, allowance);
    if (estimate > allowance) {
      const std::string cost =
          std::isfinite(estimate) ? fmt::format("about {}, {:.0f}x the sampling", ProgressLine::duration_text(estimate),
                                                estimate / std::max(out.seconds, 1e-9))
                                  : fmt::format("more than {}", ProgressLine::duration_text(allowance));
      out.reference_note =
          fmt::format("skipped the exact ODE solution ({} for {} samples): set reference: exact to compute it{}", cost,
                      z64.size(0), request ? " (then cached for later runs and evaluate stages)" : "");
      return std::nullopt;
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  at::Tensor ref;
  if (request) {
    ref = cached_ode_solution(*cache, *c.model, *request, "sample", log, &cached);
  } else {
    ProgressLine line("sample reference", "‰ of the solve", 1000, log);
    ref = exact->ode_solution(from * z64, from, to, [&](double done) { line.update(int64_t(1000 * done), 1000); });
    line.finish();
  }
  out.reference_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.reference_note =
      cached ? "exact ODE solution from the cache"
             : fmt::format("exact ODE solution computed in {}", ProgressLine::duration_text(out.reference_seconds));
  return ref;
}

}  // namespace

SampleOutcome run_sample(const SampleConfig& c, const cache::Cache* cache,
                         const std::function<void(const std::string&)>& log) {
  const at::Device device = resolve_device(c.device);
  const ModelPtr run_model = in_precision(c.model, c.dtype, device);
  const Denoiser& model = *run_model;
  const auto& solver = c.solver.solver;  // built when the config was read
  SampleOutcome out;
  out.sigmas = make_schedule(c.schedule, model.info().process.get());
  check_grid(*solver, out.sigmas, c.solver.name);
  at::Tensor z = load_latents(c, model.info());

  at::Tensor x_T = (out.sigmas.front() * z).to(device, c.dtype);
  std::vector<int64_t> seeds = c.seeds;  // a latents file's rows stand for seeds 0..B−1 (conditional labels)
  for (int64_t i = int64_t(seeds.size()); i < z.size(0); ++i) seeds.push_back(i);
  const SeededBatch seeded(model, seeds);
  CountingDenoiser counted(seeded);
  auto t0 = std::chrono::steady_clock::now();
  at::Tensor x = solver->sample(counted, x_T, out.sigmas);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.nfe = counted.nfe();
  out.samples = x.cpu();
  out.device = device.str();
  if (out.nfe != solver->expected_nfe(int(out.sigmas.size())))
    fail("internal: solver '{}' used {} model calls, its NFE rule says {}", c.solver.name, out.nfe,
         solver->expected_nfe(int(out.sigmas.size())));
  if (std::optional<at::Tensor> ref = exact_reference(c, z, out, cache, log))
    out.rmse = (out.samples.to(at::kDouble) - *ref).square().mean().sqrt().item<double>();

  h5::AtomicPath target(c.output);
  {
    h5::File f = h5::File::create(target.temp());
    h5::write_tensor(f, "samples", out.samples);
    if (model.has_decoder()) h5::write_tensor(f, "decoded", model.decode(x).cpu());
    h5::write_tensor(f, "sigmas", at::tensor(out.sigmas, at::kDouble));
    if (!c.seeds.empty()) h5::write_tensor(f, "seeds", at::tensor(c.seeds, at::kLong));
    f.set_attr("nfe", int64_t(out.nfe));
    f.set_attr("solver", c.solver.name);
    f.set_attr("config", c.resolved_yaml);
    if (out.rmse) f.set_attr("rmse", *out.rmse);
    f.close();
  }
  target.commit();
  return out;
}

}  // namespace dsx
