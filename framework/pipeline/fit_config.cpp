#include "pipeline/fit_config.h"

namespace dsx {

const Schema& fit_settings_schema() {
  static const Schema schema = {
      opt::integer("iterations", 400, 0, 1 << 24, "Adam steps"),
      opt::integer("batch", 128, 1, 1 << 20,
                   "trajectories per step (the loss is dominated by a few trajectories: small batches are noisy)"),
      opt::number("lr", 0.01, 0.0, 10.0, "Adam learning rate").exclusive_min(),
      opt::integer("validation", 256, 1, 1 << 24,
                   "teacher trajectories held out (the last ones): the kept parameters are the best on them"),
      opt::integer("validate_every", 10, 1, 1 << 24, "steps between validations"),
  };
  return schema;
}

FitSettings read_fit_settings(MapReader& r) {
  const Schema& schema = fit_settings_schema();
  FitSettings s;
  s.iterations = read_int(r, schema, "iterations");
  s.batch = read_int(r, schema, "batch");
  s.lr = read_number(r, schema, "lr");
  s.validation = read_int(r, schema, "validation");
  s.validate_every = read_int(r, schema, "validate_every");
  return s;
}

nlohmann::json fit_params(const FitSettings& s) {
  return {{"iterations", s.iterations},
          {"batch", s.batch},
          {"lr", s.lr},
          {"validation", s.validation},
          {"validate_every", s.validate_every}};
}

}  // namespace dsx
