#pragma once
// Configs of `dsx teacher` and `dsx train-amed` (strict YAML like `dsx sample`; defaults < file < --set).
#include <string>
#include <vector>

#include "amed/teacher.h"
#include "amed/trainer.h"
#include "pipeline/model_config.h"
#include "pipeline/schema.h"

namespace dsx {

struct TeacherConfig {
  ModelPtr model;
  TeacherSpec spec;
  std::string device = "auto";
  std::string output;
};

struct TrainConfig {
  ModelPtr model;
  TrainSpec spec;
  std::string trajectories;
  std::string device = "auto";
  std::string output;
};

// The training keys shared by `dsx train-amed` and the train_amed stage: student {name, afs, max_order,
// predict_x0, lower_order_final}, scale_dir, scale_time, features, batch, lr, seed, max_samples.
// The training keys (student, scale_dir, scale_time, features, batch, lr, seed, max_samples), shared by the
// train_amed stage and `dsx train-amed`; read_train_spec applies their defaults and ranges.
const Schema& train_schema();
TrainSpec read_train_spec(MapReader& r, const YamlSource& src);

TeacherConfig load_teacher_config(const std::string& path, const std::vector<std::string>& overrides);
TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace dsx
