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

namespace stage_util {
LoadedModel model_of(const Job& job);  // a fresh instance (stages run concurrently; models keep state)
at::Device device_of(const Job& job);
at::ScalarType dtype_of(const Job& job);
std::vector<int64_t> read_seeds(MapReader& r, const std::string& key);
// Content hash of a seed list (order matters): how keys depend on exactly which seeds were used.
std::string seed_hash(const std::vector<int64_t>& seeds);
// Reads a stage reference (a string naming another stage) and records it in def.
std::string read_ref(MapReader& r, const std::string& key, StageDef& def, const std::string& kind = "");
json schedule_json(const ScheduleSpec& s);  // without num_steps when drop_steps
// The teacher spec of a teacher job (re-read from its mapping).
TeacherSpec teacher_spec_of(const Job& job, const ModelInfo& info);
}  // namespace stage_util

}  // namespace dsx
