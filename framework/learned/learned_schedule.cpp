#include "learned/learned_schedule.h"

#include <cmath>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "core/error.h"
#include "diffusion/schedule.h"

namespace dsx {

std::string learned_schedule_yaml(const LearnedSchedule& s) {
  YAML::Emitter out;
  out.SetDoublePrecision(17);  // the σ values round-trip exactly
  out << YAML::Comment(fmt::format("{} schedule: {} points{}", s.method, s.sigmas.size(),
                                   s.afs ? ", for a student with afs: true" : ""));
  out << YAML::BeginMap << YAML::Key << "schedule" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "kind"
      << YAML::Value << "explicit" << YAML::Key << "sigmas" << YAML::Value << YAML::Flow << s.sigmas << YAML::EndMap;
  if (!s.indices.empty()) out << YAML::Key << "indices" << YAML::Value << YAML::Flow << s.indices;
  // Deep-merged into the including config's solver: the grid's first step is the analytic one.
  if (s.afs)
    out << YAML::Key << "solver" << YAML::Value << YAML::Flow << YAML::BeginMap << YAML::Key << "afs" << YAML::Value
        << true << YAML::EndMap;
  out << YAML::EndMap;
  std::string text = out.c_str();
  if (!s.model_sigmas.empty())
    text += fmt::format("\n# decoupled: the model is evaluated at [{}] (evaluate applies it; a sample config does not)",
                        fmt::join(s.model_sigmas, ", "));
  for (const auto& [k, v] : s.info.items())
    if (!v.is_array()) text += fmt::format("\n# {}: {}", k, v.dump());
  return text + "\n";
}

void write_learned_schedule(const std::string& dir, const LearnedSchedule& s) {
  validate_sigma_grid(s.sigmas, s.method + " schedule");
  nlohmann::json j = {
      {"method", s.method}, {"sigmas", s.sigmas}, {"indices", s.indices}, {"afs", s.afs}, {"info", s.info}};
  if (!s.model_sigmas.empty()) j["model_sigmas"] = s.model_sigmas;
  std::ofstream(dir + "/schedule.json") << j.dump(1);
  std::ofstream(dir + "/schedule.yaml") << learned_schedule_yaml(s);
}

LearnedSchedule read_learned_schedule(const std::string& dir) {
  const std::string path = dir + "/schedule.json";
  std::ifstream in(path);
  if (!in) fail("{}: cannot read the learned schedule", path);
  LearnedSchedule s;
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    s.method = j.at("method");
    s.sigmas = j.at("sigmas").get<std::vector<double>>();
    s.indices = j.value("indices", std::vector<int64_t>{});
    s.afs = j.value("afs", false);
    s.model_sigmas = j.value("model_sigmas", std::vector<double>{});
    s.info = j.value("info", nlohmann::json::object());
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not a learned schedule: {}", path, e.what());
  }
  validate_sigma_grid(s.sigmas, path);
  if (!s.model_sigmas.empty() && s.model_sigmas.size() != s.sigmas.size())
    fail("{}: model_sigmas has {} values for {} grid points", path, s.model_sigmas.size(), s.sigmas.size());
  for (double v : s.model_sigmas)
    if (!(v > 0) || !std::isfinite(v)) fail("{}: model_sigmas must be positive and finite, got {}", path, v);
  return s;
}

}  // namespace dsx
