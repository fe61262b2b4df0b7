#include "pipeline/yaml_util.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace dsx {
namespace fs = std::filesystem;

namespace {
std::string mark_text(const std::string& file, const YAML::Mark& m) {
  if (m.is_null()) return file;
  return fmt::format("{}:{}:{}", file, m.line + 1, m.column + 1);
}

std::string type_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Scalar: return "'" + n.Scalar() + "'";
    default: return "nothing";
  }
}
}  // namespace

YamlSource YamlSource::load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open the config file", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return load_string(ss.str(), path);
}

YamlSource YamlSource::load_string(const std::string& text, const std::string& name) {
  YamlSource s;
  s.path_ = name;
  try {
    s.root_ = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail("{}: YAML syntax error: {}", mark_text(name, e.mark), e.msg);
  }
  if (s.root_.IsNull()) s.root_ = YAML::Node(YAML::NodeType::Map);
  if (!s.root_.IsMap()) fail("{}: the config must be a mapping of keys to values", mark_text(name, s.root_.Mark()));
  return s;
}

void YamlSource::apply_override(const std::string& assignment) {
  size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) fail("--set '{}': expected key.path=value", assignment);
  std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  YAML::Node value;
  try {
    value = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail("--set {}: cannot parse value '{}': {}", key, text, e.msg);
  }
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string p; std::getline(ss, p, '.');) {
    if (p.empty()) fail("--set '{}': empty component in key path", assignment);
    parts.push_back(p);
  }
  // Walk with fresh handles: yaml-cpp nodes are references, so assigning through a copy edits the tree.
  std::vector<YAML::Node> chain{root_};
  std::string prefix;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    prefix += (i ? "." : "") + parts[i];
    YAML::Node next = chain.back()[parts[i]];
    if (next.IsDefined() && !next.IsNull() && !next.IsMap())
      fail("--set {}: '{}' is {}, not a mapping", key, prefix, type_name(next));
    if (!next.IsDefined() || next.IsNull()) {
      chain.back()[parts[i]] = YAML::Node(YAML::NodeType::Map);
      next = chain.back()[parts[i]];
    }
    chain.push_back(next);
  }
  chain.back()[parts.back()] = value;
  overrides_[key] = assignment;
}

std::string YamlSource::dir() const {
  fs::path p = fs::path(path_).parent_path();
  return p.empty() ? "." : p.string();
}

const std::string* YamlSource::override_of(const std::string& key_path) const {
  for (std::string p = key_path;;) {
    auto it = overrides_.find(p);
    if (it != overrides_.end()) return &it->second;
    size_t dot = p.rfind('.');
    if (dot == std::string::npos) return nullptr;
    p = p.substr(0, dot);
  }
}

bool YamlSource::overridden(const std::string& key_path) const { return override_of(key_path) != nullptr; }

std::string YamlSource::where(const YAML::Node& node, const std::string& key_path) const {
  if (const std::string* o = override_of(key_path)) return "--set " + *o;
  return mark_text(path_, node.Mark());
}

std::string YamlSource::resolve_path(const std::string& value, const std::string& key_path) const {
  if (value.empty() || fs::path(value).is_absolute() || overridden(key_path)) return value;
  return (fs::path(dir()) / value).lexically_normal().string();
}

MapReader::MapReader(const YamlSource& src, const YAML::Node& node, std::string key_path)
    : src_(src), node_(node), key_path_(std::move(key_path)) {
  if (!node_.IsMap())
    fail("{}: '{}' must be a mapping, got {}", src_.where(node_, key_path_), key_path_.empty() ? "config" : key_path_,
         type_name(node_));
}

bool MapReader::has(const std::string& key) const {
  const YAML::Node& n = node_;
  return n[key].IsDefined() && !n[key].IsNull();
}

YAML::Node MapReader::node(const std::string& key) const {
  used_.insert(key);
  const YAML::Node& n = node_;
  return n[key];
}

std::string MapReader::where(const std::string& key) const {
  const YAML::Node& n = node_;
  return n[key].IsDefined() ? src_.where(n[key], path(key)) : src_.where(node_, key_path_);
}

void MapReader::missing(const std::string& key) const {
  fail("{}: missing required key '{}'", src_.where(node_, key_path_), path(key));
}

template <typename T>
T MapReader::get_scalar(const std::string& key, const std::optional<T>& fallback, const char* expected) {
  if (!has(key)) {
    used_.insert(key);
    if (fallback) return *fallback;
    missing(key);
  }
  YAML::Node n = node(key);
  try {
    if (!n.IsScalar()) throw YAML::Exception(n.Mark(), "");
    return n.as<T>();
  } catch (const YAML::Exception&) {
    fail("{}: '{}' must be {}, got {}", where(key), path(key), expected, type_name(n));
  }
}

std::string MapReader::get_string(const std::string& key, const std::optional<std::string>& fallback) {
  return get_scalar<std::string>(key, fallback, "a string");
}
double MapReader::get_double(const std::string& key, const std::optional<double>& fallback) {
  return get_scalar<double>(key, fallback, "a number");
}
long MapReader::get_int(const std::string& key, const std::optional<long>& fallback) {
  return get_scalar<long>(key, fallback, "an integer");
}
bool MapReader::get_bool(const std::string& key, const std::optional<bool>& fallback) {
  return get_scalar<bool>(key, fallback, "true or false");
}

std::vector<double> MapReader::get_doubles(const std::string& key) {
  YAML::Node n = node(key);
  if (!n.IsSequence()) fail("{}: '{}' must be a list of numbers, got {}", where(key), path(key), type_name(n));
  std::vector<double> out;
  for (size_t i = 0; i < n.size(); ++i) {
    try {
      out.push_back(n[i].as<double>());
    } catch (const YAML::Exception&) {
      fail("{}: '{}[{}]' must be a number, got {}", src_.where(n[i], path(key)), path(key), i, type_name(n[i]));
    }
  }
  return out;
}

std::map<std::string, RawOption> MapReader::rest_as_options(const std::set<std::string>& skip) {
  std::map<std::string, RawOption> out;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    std::string key = it->first.Scalar();
    if (skip.count(key)) continue;
    used_.insert(key);
    if (!it->second.IsScalar())
      fail("{}: '{}' must be a single value, got {}", src_.where(it->second, path(key)), path(key),
           type_name(it->second));
    out[key] = {it->second.Scalar(), src_.where(it->second, path(key))};
  }
  return out;
}

void MapReader::reject_unknown(const std::vector<std::string>& allowed) const {
  for (auto it = node_.begin(); it != node_.end(); ++it)
    if (std::find(allowed.begin(), allowed.end(), it->first.Scalar()) == allowed.end()) report_unknown(it, allowed);
}

void MapReader::report_unknown(const YAML::const_iterator& it, const std::vector<std::string>& allowed) const {
  std::string key = it->first.Scalar();
  std::string hint = did_you_mean(key, allowed), list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  fail("{}: unknown key '{}'{}; allowed here: {}", src_.where(it->first, path(key)), path(key),
       hint.empty() ? "" : " (did you mean '" + hint + "'?)", list);
}

void MapReader::finish(const std::vector<std::string>& allowed) const {
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    std::string key = it->first.Scalar();
    if (!used_.count(key)) report_unknown(it, allowed);
  }
}

}  // namespace dsx
