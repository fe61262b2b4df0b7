#pragma once
// Stage kinds of `dsx run` (one file each) and their registry. Helpers shared by the stage files.
#include <vector>

#include <ATen/ATen.h>

#include "amed/teacher.h"
#include "pipeline/spec.h"

namespace dsx {

const std::vector<StageKind>& stage_kinds();

StageKind teacher_stage();
StageKind train_amed_stage();
StageKind evaluate_stage();
StageKind report_stage();
StageKind train_model_stage();
StageKind train_classifier_stage();
StageKind search_schedule_stage();
StageKind learn_schedule_stage();
StageKind train_epd_stage();
StageKind analyze_trajectories_stage();

// What a teacher job's artifact is, for the stages downstream of it (its typed parameters, never its YAML):
// the entry key, the seeds and student grid, the solver.
const TeacherSpec& teacher_manifest(const Job& teacher);

namespace stage_util {
std::vector<int64_t> read_seeds(MapReader& r, const std::string& key);
// Content hash of a seed list (order matters): how keys depend on exactly which seeds were used.
std::string seed_hash(const std::vector<int64_t>& seeds);
// Reads a stage reference (a string naming another stage) and records it in def.
std::string read_ref(MapReader& r, const std::string& key, StageDef& def, const std::string& kind = "");
// `schedule: {kind: learned, from: STAGE}`, the grid a search_schedule or learn_schedule stage found: records
// the reference in def (as its last) and returns the stage's name; "" (and nothing recorded) for any other node.
std::string read_learned_ref(const YamlSource& src, const YAML::Node& node, const std::string& path, StageDef& def);
json schedule_json(const ScheduleSpec& s);
// Publishes a learned schedule's schedule.yaml into the run directory as <label>.schedule.yaml (includable).
void publish_schedule_yaml(StageRun& ctx);
// Copies via a temporary file and a rename (a reader of `to` never sees half a file); creates folders.
void copy_atomically(const std::string& from, const std::string& to);
}  // namespace stage_util

}  // namespace dsx
