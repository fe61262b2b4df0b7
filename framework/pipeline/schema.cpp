#include "pipeline/schema.h"

#include <fmt/format.h>

#include "core/error.h"

namespace dsx {

std::vector<std::string> key_names(const Schema& schema) {
  std::vector<std::string> names;
  for (const auto& k : schema) names.push_back(k.name);
  return names;
}

const OptionSpec& schema_key(const Schema& schema, const std::string& name) {
  for (const auto& k : schema)
    if (k.name == name) return k;
  fail("internal: '{}' is not declared in the stage's schema", name);
}

namespace {

// The typed value of one scalar key, through the option validator (one parser for every scalar in dsx).
OptionValue scalar(MapReader& r, const Schema& schema, const std::string& name) {
  const OptionSpec& spec = schema_key(schema, name);
  std::map<std::string, RawOption> raw;
  if (r.has(name)) {
    YAML::Node n = r.node(name);
    if (!n.IsScalar()) fail("{}: {} must be {}", r.where(name), r.path(name), spec.allowed());
    raw[name] = {n.Scalar(), r.where(name)};
  }
  Options o = Options::resolve({spec}, raw, r.path(""));  // "stages.teacher." (or "" at the root)
  return o.values().at(name);
}

}  // namespace

bool read_flag(MapReader& r, const Schema& schema, const std::string& name) {
  return std::get<bool>(scalar(r, schema, name));
}

long read_int(MapReader& r, const Schema& schema, const std::string& name) {
  return std::get<long>(scalar(r, schema, name));
}

double read_number(MapReader& r, const Schema& schema, const std::string& name) {
  OptionValue v = scalar(r, schema, name);
  return std::holds_alternative<long>(v) ? double(std::get<long>(v)) : std::get<double>(v);
}

std::string read_choice(MapReader& r, const Schema& schema, const std::string& name) {
  return std::get<std::string>(scalar(r, schema, name));
}

void require_keys(const MapReader& r, const Schema& schema) {
  ErrorList errors;
  for (const auto& k : schema)
    if (k.required && !r.has(k.name))
      errors.capture([&] {
        std::string map = r.path("");
        if (!map.empty()) map.pop_back();  // "stages.teacher." → "stages.teacher"
        fail("{}: {} is missing '{}' ({})", r.where(k.name), map.empty() ? "the spec" : map, k.name, k.help);
      });
  errors.throw_if_any();
}

std::string explain_schema(const std::string& title, const std::string& description, const Schema& schema) {
  std::string out = fmt::format("{}: {}\n\n| key | type | default | help |\n|---|---|---|---|\n", title, description);
  for (const auto& k : schema)
    out += fmt::format("| {} | {} | {} | {} |\n", k.name, k.allowed(),
                       k.required                ? "(required)"
                       : k.default_value.empty() ? "–"
                                                 : k.default_value,
                       k.help);
  return out;
}

}  // namespace dsx
