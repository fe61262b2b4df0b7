#include "pipeline/sample_run.h"

#include <chrono>

#include "core/error.h"
#include "core/noise.h"
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

}  // namespace

SampleOutcome run_sample(const SampleConfig& c) {
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
  if (const ExactOde* exact = c.model->num_classes() == 0 ? c.model->exact() : nullptr) {
    at::Tensor ref = exact->ode_solution(x_T.to(at::kDouble).cpu(), out.sigmas.front(), out.sigmas.back());
    out.rmse = (out.samples.to(at::kDouble) - ref).square().mean().sqrt().item<double>();
  }

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
  }
  target.commit();
  return out;
}

}  // namespace dsx
