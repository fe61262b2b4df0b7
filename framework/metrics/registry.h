#pragma once
// Metric registry: specs name metrics ("frechet", "log_likelihood", ...) and the evaluation stage looks
// them up here instead of branching on names. Every metric has one signature so a stage can loop over a
// list of names; what a metric needs (reference samples, a model) is declared so a spec can be rejected
// before any sampling happens.
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace dsx {

class Denoiser;

enum class MetricDirection { LowerIsBetter, HigherIsBetter };
const char* direction_text(MetricDirection d);  // "lower is better" / "higher is better"

// What a metric compares the samples with. OdeSolution: the exact (or reference) ODE solution of the same
// seeds, paired row by row — a solver's own error, free of sampling noise. DataSamples: independent exact
// samples of the data distribution — what FID measures on real models, sampling noise floor included.
enum class MetricReference { None, OdeSolution, DataSamples };

// samples [N, *shape]; reference [M, *shape] or undefined; model may be null when not needed.
using MetricFn = std::function<double(const at::Tensor& samples, const at::Tensor& reference, const Denoiser* model)>;

struct MetricEntry {
  std::string name;
  std::string description;
  MetricDirection direction = MetricDirection::LowerIsBetter;
  MetricReference reference = MetricReference::None;
  bool needs_model = false;
  MetricFn compute;
};

const std::vector<MetricEntry>& metric_entries();
// Unknown names are errors listing the known ones.
const MetricEntry& find_metric(const std::string& name);
// Direction of a registered metric; measurements that are not registry metrics (wall time) are lower-is-better.
MetricDirection metric_direction(const std::string& name);
// Runs a metric after checking its declared needs (clear error instead of a shape failure deep inside).
double compute_metric(const std::string& name, const at::Tensor& samples, const at::Tensor& reference,
                      const Denoiser* model);

// RMSE over all elements between samples and reference paired row by row (same seeds, same order): the
// distance of a fast sampler from the reference ODE solution.
double rmse_to_reference(const at::Tensor& samples, const at::Tensor& reference);

}  // namespace dsx
