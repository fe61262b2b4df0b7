#pragma once
// A searched or trained σ grid as an artifact: what search_schedule (GITS) writes and evaluate reads back for
// `schedule: {kind: learned, from: STAGE}`.
//
//   schedule.json  {method, sigmas (σ_max first), indices (into the teacher grid), afs, model_sigmas, info}
//   schedule.yaml  schedule: {kind: explicit, sigmas: [...]}, indices: [...] and, for an AFS grid,
//                  solver: {afs: true} — keys a sample config takes, so it can `include:` the file — with the
//                  settings as comments. A decoupled grid (LD3's model times) keeps its model_sigmas in
//                  schedule.json only: evaluate applies them; the YAML says so in a comment.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsx {

struct LearnedSchedule {
  std::string method;                              // "gits", "ld3"
  std::vector<double> sigmas;                      // strictly decreasing, σ_max first
  std::vector<int64_t> indices;                    // into the grid it was chosen from (empty when not a sub-grid)
  bool afs = false;                                // chosen for a student whose first step is analytic (AFS)
  std::vector<double> model_sigmas;                // σ the model is evaluated at per grid point; empty: sigmas
  nlohmann::json info = nlohmann::json::object();  // the method's settings and numbers
};

void write_learned_schedule(const std::string& dir, const LearnedSchedule& s);
// Errors name the file; the grid is validated (validate_sigma_grid).
LearnedSchedule read_learned_schedule(const std::string& dir);
// schedule.yaml's text.
std::string learned_schedule_yaml(const LearnedSchedule& s);

}  // namespace dsx
