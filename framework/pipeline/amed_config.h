#pragma once
// Configs of `dsx teacher` and `dsx train-amed` (strict YAML like `dsx sample`; defaults < file < --set).
#include <string>
#include <vector>

#include "amed/teacher.h"
#include "amed/trainer.h"
#include "pipeline/model_config.h"

namespace dsx {

struct TeacherConfig {
  LoadedModel model;
  TeacherSpec spec;
  std::string device = "auto";
  std::string output;
};

struct TrainConfig {
  LoadedModel model;
  TrainSpec spec;
  std::string trajectories;
  std::string device = "auto";
  std::string output;
};

TeacherConfig load_teacher_config(const std::string& path, const std::vector<std::string>& overrides);
TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace dsx
