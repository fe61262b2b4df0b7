#include "metrics/likelihood.h"

#include <ATen/ATen.h>

#include "metrics/samples.h"
#include "models/denoiser.h"

namespace dsx {

at::Tensor log_density(const Density& model, const at::Tensor& samples) {
  return model.log_density(sample_matrix(samples, "log_likelihood"));
}

LogLikelihood log_likelihood(const Density& model, const at::Tensor& samples) {
  at::Tensor x = sample_matrix(samples, "log_likelihood");
  double total = model.log_density(x).mean().item<double>();
  return {total, total / double(x.size(1))};
}

}  // namespace dsx
