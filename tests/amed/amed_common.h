#pragma once
// Shared helpers of the AMED suites: the deterministic predictor of docs/amed.md §12.1 and the grids.
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "amed/predictor.h"
#include "core/error.h"
#include "diffusion/schedule.h"
#include "support/scratch.h"
#include "support/testbeds.h"

namespace dsx::test {

// §12.1: parameter tensor with list index p (0..11 in the official order, kept even if a head is absent),
// element j of its row-major flattening = 0.3·sin(0.7·j + p).
inline AmedPredictor deterministic_predictor(double scale_dir = 0.01, double scale_time = 0.2) {
  AmedPredictor net(scale_dir, scale_time);
  const char* order[] = {"map_layer0.weight",   "map_layer0.bias",   "enc_layer0.weight",    "enc_layer0.bias",
                         "enc_layer1.weight",   "enc_layer1.bias",   "fc_r.weight",          "fc_r.bias",
                         "fc_scale_dir.weight", "fc_scale_dir.bias", "fc_scale_time.weight", "fc_scale_time.bias"};
  at::NoGradGuard no_grad;
  auto params = net->named_parameters();
  for (int p = 0; p < 12; ++p) {
    if (!params.contains(order[p])) continue;
    at::Tensor& t = params[order[p]];
    at::Tensor v = (0.7 * at::arange(t.numel(), at::kDouble) + double(p)).sin() * 0.3;
    t.copy_(v.reshape(t.sizes()).to(at::kFloat));
  }
  return net;
}

// Official float32 grids of §2 (N = 4).
inline std::vector<double> unif1_grid4() { return time_uniform_float32(4, 1.0); }
// polynomial ρ = 7 as diff-sampler computes it in float32 (§2 golden: σ_0 = 79.999985, not 80).
inline std::vector<double> poly7_grid4() {
  return {double(79.999985f), double(9.7232008f), double(0.46997881f), double(0.0019999996f)};
}
// The same grid from our float64 schedule, cast to float32 (σ_0 = 80).
inline std::vector<double> poly7_grid4_cast() {
  ScheduleSpec s;
  s.num_steps = 4;
  std::vector<double> g = make_schedule(s);
  for (auto& v : g) v = double(float(v));
  return g;
}

inline std::string error_of(const std::function<void()>& f) { return error_message(f); }

}  // namespace dsx::test
