#pragma once
// A stage kind's keys, declared once with the opt:: factories (name, type, default, bounds, help): the stage
// reads its scalars through these helpers, so the defaults and ranges it applies are the ones the schema
// declares, its unknown-key check uses the schema's names, and `dsx run --explain KIND` prints the table.
#include <string>
#include <vector>

#include "core/options.h"
#include "pipeline/yaml_util.h"

namespace dsx {

using Schema = std::vector<OptionSpec>;

std::vector<std::string> key_names(const Schema& schema);
const OptionSpec& schema_key(const Schema& schema, const std::string& name);  // internal error if absent

// The value at `name` (or the schema default), checked against the declared type and bounds; errors name
// the key with its file:line:col and what is allowed. Bool, Int, Double and Choice keys.
bool read_flag(MapReader& r, const Schema& schema, const std::string& name);
long read_int(MapReader& r, const Schema& schema, const std::string& name);
double read_number(MapReader& r, const Schema& schema, const std::string& name);
std::string read_choice(MapReader& r, const Schema& schema, const std::string& name);
// Fails at the mapping when a required key is missing.
void require_keys(const MapReader& r, const Schema& schema);

// `dsx run --explain KIND`: every key with its type (what is allowed), default and help.
std::string explain_schema(const std::string& title, const std::string& description, const Schema& schema);

}  // namespace dsx
