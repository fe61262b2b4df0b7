// dsx make-gmm / make-latents: small reproducible inputs for examples and tests.
#include <fmt/format.h>

#include "commands.h"
#include "core/error.h"
#include "core/noise.h"
#include "core/seeds.h"
#include "models/gaussian_mixture.h"
#include "store/h5.h"
#include "store/tensor_h5.h"

namespace dsx::cli {
namespace {

std::vector<int64_t> parse_shape(const std::string& text) {
  std::vector<int64_t> shape;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    try {
      size_t used = 0;
      long v = std::stol(part, &used);
      if (used != part.size() || v <= 0) throw std::invalid_argument(part);
      shape.push_back(v);
    } catch (const std::exception&) {
      fail("--shape '{}': expected positive integers separated by commas, e.g. 3,8,8", text);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return shape;
}

}  // namespace

Action add_make_gmm(CLI::App& app) {
  auto* cmd = app.add_subcommand("make-gmm", "write a random Gaussian mixture (means, stds, weights) to HDF5");
  struct Args {
    std::string out, shape = "3,8,8";
    int64_t k = 8;
    uint64_t seed = 0;
    double spread = 1.0, std_min = 0.05, std_max = 0.5;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("output", a->out, "HDF5 file to write")->required();
  cmd->add_option("--components", a->k, "number of components K")->check(CLI::PositiveNumber);
  cmd->add_option("--shape", a->shape, "sample shape, e.g. 3,8,8");
  cmd->add_option("--seed", a->seed, "generator seed");
  cmd->add_option("--spread", a->spread, "means ~ spread * N(0, I)")->check(CLI::PositiveNumber);
  cmd->add_option("--std-min", a->std_min, "smallest component std")->check(CLI::NonNegativeNumber);
  cmd->add_option("--std-max", a->std_max, "largest component std")->check(CLI::NonNegativeNumber);
  return [a] {
    if (a->std_max < a->std_min) fail("--std-max {} is below --std-min {}", a->std_max, a->std_min);
    auto gmm = GaussianMixture::random(a->k, parse_shape(a->shape), a->seed, a->spread, a->std_min, a->std_max);
    gmm->save_h5(a->out);
    fmt::print("wrote {}: K={} shape [{}] fingerprint {}\n", a->out, a->k, a->shape, gmm->info().fingerprint);
    return 0;
  };
}

Action add_make_latents(CLI::App& app) {
  auto* cmd = app.add_subcommand("make-latents", "write per-seed unit Gaussian noise [B, *shape] to HDF5");
  auto out = std::make_shared<std::string>();
  auto seeds = std::make_shared<std::string>("0-15");
  auto shape = std::make_shared<std::string>("3,8,8");
  cmd->add_option("output", *out, "HDF5 file to write (dataset 'latents')")->required();
  cmd->add_option("--seeds", *seeds, "seed ranges, e.g. 0-63 or 0-9,20-29");
  cmd->add_option("--shape", *shape, "sample shape, e.g. 3,8,8");
  return [out, seeds, shape] {
    std::vector<int64_t> s = parse_seed_ranges(*seeds);
    at::Tensor z = seeded_noise(s, parse_shape(*shape), at::TensorOptions().dtype(at::kDouble));
    h5::AtomicPath target(*out);
    {
      h5::File f = h5::File::create(target.temp());
      h5::write_tensor(f, "latents", z);
      h5::write_tensor(f, "seeds", at::tensor(s, at::kLong));
      f.close();
    }
    target.commit();
    fmt::print("wrote {}: {} latents of shape [{}]\n", *out, s.size(), *shape);
    return 0;
  };
}

}  // namespace dsx::cli
