#include "metrics/registry.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/error.h"
#include "core/registry.h"
#include "metrics/frechet.h"
#include "metrics/likelihood.h"
#include "metrics/samples.h"
#include "metrics/sliced_wasserstein.h"
#include "models/denoiser.h"

namespace dsx {

const char* direction_text(MetricDirection d) {
  return d == MetricDirection::LowerIsBetter ? "lower is better" : "higher is better";
}

double rmse_to_reference(const at::Tensor& samples, const at::Tensor& reference) {
  at::Tensor x = sample_matrix(samples, "rmse_to_reference"), y = sample_matrix(reference, "rmse_to_reference");
  if (x.sizes() != y.sizes())
    fail("rmse_to_reference: samples [{}, {}] and reference [{}, {}] must pair row by row", x.size(0), x.size(1),
         y.size(0), y.size(1));
  return std::sqrt((x - y).square().mean().item<double>());
}

namespace {

double model_log_likelihood(const at::Tensor& samples, const Denoiser* model) {
  if (const Density* density = model ? model->density() : nullptr) return log_likelihood(*density, samples).per_dim;
  fail("log_likelihood: needs a model with an exact data density (gaussian_mixture, diagonal_gaussian), got kind '{}'",
       model ? model->info().kind : std::string("none"));
}

}  // namespace

const std::vector<MetricEntry>& metric_entries() {
  using D = MetricDirection;
  static const std::vector<MetricEntry> entries = {
      {"rmse_to_reference",
       "RMSE between samples and the reference ODE solution of the same seeds (paired): exact, or a "
       "Fehlberg 7(8) solve at rtol 1e-10 for networks",
       D::LowerIsBetter, MetricReference::OdeSolution, false,
       [](const at::Tensor& x, const at::Tensor& r, const Denoiser*) { return rmse_to_reference(x, r); }},
      {"frechet",
       "Fréchet distance between Gaussian fits of the samples and of exact data samples (FID formula, raw space)",
       D::LowerIsBetter, MetricReference::DataSamples, false,
       [](const at::Tensor& x, const at::Tensor& r, const Denoiser*) { return frechet_distance(x, r); }},
      {"sliced_wasserstein", "sliced Wasserstein-2 distance to exact data samples (256 directions, seed 0)",
       D::LowerIsBetter, MetricReference::DataSamples, false,
       [](const at::Tensor& x, const at::Tensor& r, const Denoiser*) { return sliced_wasserstein(x, r); }},
      {"frechet_to_reference", "Fréchet distance to the exact ODE solution of the same seeds (no data sampling noise)",
       D::LowerIsBetter, MetricReference::OdeSolution, false,
       [](const at::Tensor& x, const at::Tensor& r, const Denoiser*) { return frechet_distance(x, r); }},
      {"sliced_wasserstein_to_reference", "sliced Wasserstein-2 distance to the exact ODE solution of the same seeds",
       D::LowerIsBetter, MetricReference::OdeSolution, false,
       [](const at::Tensor& x, const at::Tensor& r, const Denoiser*) { return sliced_wasserstein(x, r); }},
      {"log_likelihood", "mean exact data log-likelihood of the samples under the model, nats per dimension",
       D::HigherIsBetter, MetricReference::None, true,
       [](const at::Tensor& x, const at::Tensor&, const Denoiser* m) { return model_log_likelihood(x, m); }},
  };
  return entries;
}

const MetricEntry& find_metric(const std::string& name) { return find_entry(metric_entries(), name, "metric"); }

MetricDirection metric_direction(const std::string& name) {
  for (const auto& e : metric_entries())
    if (e.name == name) return e.direction;
  return MetricDirection::LowerIsBetter;
}

double compute_metric(const std::string& name, const at::Tensor& samples, const at::Tensor& reference,
                      const Denoiser* model) {
  const MetricEntry& e = find_metric(name);
  if (e.reference != MetricReference::None && !reference.defined())
    fail("metric '{}' needs {}", name,
         e.reference == MetricReference::OdeSolution ? "the reference ODE solution" : "exact data samples");
  if (e.needs_model && model == nullptr) fail("metric '{}' needs a model", name);
  return e.compute(samples, reference, model);
}

}  // namespace dsx
