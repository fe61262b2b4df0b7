#include "pipeline/yaml_util.h"

#include <iconv.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/fs_util.h"

namespace dsx {
namespace fs = std::filesystem;

namespace {
std::string mark_text(const std::string& file, const YAML::Mark& m) {
  if (m.is_null()) return file;
  return fmt::format("{}:{}:{}", file, m.line + 1, m.column + 1);
}

YAML::Mark file_start() {
  YAML::Mark m = YAML::Mark::null_mark();
  m.pos = m.line = m.column = 0;
  return m;
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

using Origins = std::map<std::string, std::string>;  // key path → file; always holds "" (the document's file)

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open the config file", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string read_with(SourceFiles* files, const std::string& path) {
  return files ? files->text(path) : read_file(path);
}

std::string dir_of(const std::string& file) {
  fs::path p = fs::path(file).parent_path();
  return p.empty() ? "." : p.string();
}

// YAML text is UTF-8; yaml-cpp passes stray bytes through, and they would surface far from the spec (JSON
// manifests refuse them). glibc's iconv decodes UTF-8 strictly and stops at the first bad byte.
void require_utf8(const std::string& text, const std::string& name) {
  iconv_t cd = ::iconv_open("UTF-8", "UTF-8");
  if (cd == iconv_t(-1)) return;  // no converter: nothing to check with
  std::vector<char> out(1 << 14);
  char* in = const_cast<char*>(text.data());
  size_t left = text.size();
  bool bad = false;
  while (left > 0 && !bad) {
    char* o = out.data();
    size_t room = out.size();
    bad = ::iconv(cd, &in, &left, &o, &room) == size_t(-1) && errno != E2BIG;
  }
  ::iconv_close(cd);
  if (!bad) return;
  const size_t at = size_t(in - text.data()), line_start = text.rfind('\n', at == 0 ? 0 : at - 1);
  const size_t line = size_t(std::count(text.begin(), text.begin() + long(at), '\n')) + 1;
  const size_t col = line_start == std::string::npos || at == 0 ? at + 1 : at - line_start;
  fail("{}:{}:{}: not UTF-8 text (byte 0x{:02X}); specs are UTF-8", name, line, col, unsigned(uint8_t(text[at])));
}

// YAML forbids both, but yaml-cpp reads them: a key that is empty or not a plain scalar, and a key given
// twice in one mapping (lookups would silently take the first). Checked on the parsed text, where every node
// still has its position; each mapping or list is visited once (by position), so aliases cost nothing.
void check_keys(const YAML::Node& n, const std::string& name, std::set<size_t>& visited) {
  if (!n.IsMap() && !n.IsSequence()) return;
  if (!n.Mark().is_null() && !visited.insert(size_t(n.Mark().pos)).second) return;
  if (n.IsSequence()) {
    for (const YAML::Node& e : n) check_keys(e, name, visited);
    return;
  }
  std::map<std::string, YAML::Mark> seen;
  for (auto it = n.begin(); it != n.end(); ++it) {
    // A copy, not a reference: yaml-cpp's it-> returns a temporary proxy, so `const Node& k = it->first`
    // dangled at the end of the statement (AddressSanitizer: stack-use-after-scope on every spec read).
    const YAML::Node k = it->first;
    if (!k.IsScalar() || k.Scalar().empty())
      fail("{}: a key must be a name, got {}", mark_text(name, k.Mark()), k.IsScalar() ? "an empty key" : type_name(k));
    if (auto [at, fresh] = seen.emplace(k.Scalar(), k.Mark()); !fresh)
      fail("{}: key '{}' is given twice in this mapping (also at line {})", mark_text(name, k.Mark()), k.Scalar(),
           at->second.line + 1);
    check_keys(it->second, name, visited);
  }
}

YAML::Node parse_mapping(const std::string& text, const std::string& name) {
  require_utf8(text, name);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail("{}: YAML syntax error: {}", mark_text(name, e.mark), e.msg);
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) fail("{}: the config must be a mapping of keys to values", mark_text(name, root.Mark()));
  std::set<size_t> visited;
  check_keys(root, name, visited);
  return root;
}

std::string join_key(const std::string& path, const std::string& key) { return path.empty() ? key : path + "." + key; }

bool within(const std::string& key_path, const std::string& prefix) {
  return key_path == prefix || (key_path.size() > prefix.size() && key_path.compare(0, prefix.size(), prefix) == 0 &&
                                key_path[prefix.size()] == '.');
}

const std::string& origin_in(const Origins& origins, const std::string& key_path) {
  for (std::string p = key_path; !p.empty();) {
    auto it = origins.find(p);
    if (it != origins.end()) return it->second;
    size_t dot = p.rfind('.');
    p = dot == std::string::npos ? "" : p.substr(0, dot);
  }
  return origins.at("");
}

// The winner of a replaced key brings its own origins for the whole subtree.
void take_origins(Origins& origins, const Origins& winner, const std::string& key_path) {
  for (auto it = origins.begin(); it != origins.end();) it = within(it->first, key_path) ? origins.erase(it) : ++it;
  for (const auto& [k, file] : winner)
    if (!k.empty() && within(k, key_path)) origins[k] = file;
  origins[key_path] = origin_in(winner, key_path);
}

// Points map[key] at `value` (key and value nodes as given, marks included) and keeps the map's order.
// Assigning through a yaml-cpp handle would overwrite the old value node itself, and a YAML alias
// (`metrics: *metrics`) shares that node with other keys, which would change with it; so the map's
// entries are re-inserted instead. (A map reached through an alias is still shared when merged into.)
void put(YAML::Node map, const YAML::Node& key, const YAML::Node& value) {
  std::vector<std::pair<YAML::Node, YAML::Node>> entries;
  bool replaced = false;
  for (auto it = map.begin(); it != map.end(); ++it) {
    const bool same = it->first.Scalar() == key.Scalar();
    entries.emplace_back(same ? key : it->first, same ? value : it->second);
    replaced = replaced || same;
  }
  if (!replaced) {
    map.force_insert(key, value);
    return;
  }
  for (const auto& [k, v] : entries) map.remove(k.Scalar());
  for (const auto& [k, v] : entries) map.force_insert(k, v);
}

// Deep-merges `over` onto `base` in place: maps key by key, anything else replaced whole. A replaced entry
// takes over's key and value nodes (so their marks point into over's file) but keeps base's position, so
// key order stays that of the first file that wrote the key.
void merge_into(YAML::Node base, const YAML::Node& over, const std::string& path, Origins& origins,
                const Origins& over_origins) {
  for (auto it = over.begin(); it != over.end(); ++it) {
    const std::string key_path = join_key(path, it->first.Scalar());
    const YAML::Node existing = static_cast<const YAML::Node&>(base)[it->first.Scalar()];
    if (existing.IsDefined() && existing.IsMap() && it->second.IsMap()) {
      merge_into(existing, it->second, key_path, origins, over_origins);
      continue;
    }
    take_origins(origins, over_origins, key_path);
    put(base, it->first, it->second);
  }
}

std::vector<YAML::Node> include_entries(const YAML::Node& root, const std::string& name) {
  const YAML::Node& list = root["include"];
  auto bad = [&](const YAML::Node& at) {
    fail("{}: 'include' must be a file path or a list of file paths, got {}", mark_text(name, at.Mark()),
         type_name(at));
  };
  std::vector<YAML::Node> entries;
  if (list.IsScalar())
    entries.push_back(list);
  else if (list.IsSequence())
    for (const YAML::Node& e : list) entries.push_back(e);
  else
    bad(list);
  for (const auto& e : entries)
    if (!e.IsScalar() || e.Scalar().empty()) bad(e);
  return entries;
}

struct Document {
  YAML::Node root;
  YAML::Mark own_mark;
  Origins origins;
  std::vector<std::string> included;
};

struct OpenInclude {
  std::string canonical, name;
};

// Parses `text` and merges its includes (recursively) under it. `open`: the files being read, outermost
// first, to detect cycles.
Document load_merged(const std::string& text, const std::string& name, std::vector<OpenInclude>& open,
                     SourceFiles* files) {
  YAML::Node own = parse_mapping(text, name);
  Document doc{YAML::Node(YAML::NodeType::Map), own.Mark(), {{"", name}}, {}};
  if (!static_cast<const YAML::Node&>(own)["include"]) {
    doc.root.reset(own);  // rebinds the handle (assignment would overwrite the empty map's contents)
    return doc;
  }
  for (const YAML::Node& entry : include_entries(own, name)) {
    const std::string file = (fs::path(dir_of(name)) / entry.Scalar()).lexically_normal().string();
    const std::string where = mark_text(name, entry.Mark());
    std::error_code ec;  // a name the system refuses (too long, ...) is a missing file too
    if (!fs::is_regular_file(file, ec)) fail("{}: include '{}': no such file ({})", where, entry.Scalar(), file);
    const std::string canonical = fs::weakly_canonical(file, ec).string();
    for (size_t i = 0; i < open.size(); ++i)
      if (open[i].canonical == canonical) {
        std::string chain;
        for (size_t j = i; j < open.size(); ++j) chain += open[j].name + " -> ";
        fail("{}: include '{}' makes a cycle: {}{}", where, entry.Scalar(), chain, file);
      }
    doc.included.push_back(file);
    open.push_back({canonical, file});
    Document inc = load_merged(read_with(files, file), file, open, files);
    open.pop_back();
    doc.included.insert(doc.included.end(), inc.included.begin(), inc.included.end());
    merge_into(doc.root, inc.root, "", doc.origins, inc.origins);
  }
  own.remove("include");
  merge_into(doc.root, own, "", doc.origins, {{"", name}});
  return doc;
}
}  // namespace

const std::string& SourceFiles::text(const std::string& path) {
  auto it = texts_.find(path);
  if (it != texts_.end()) return it->second;
  ++reads_;
  return texts_.emplace(path, read_file(path)).first->second;
}

YamlSource YamlSource::load_file(const std::string& path, Includes includes, SourceFiles* files) {
  return load_string(read_with(files, path), path, includes, files);
}

YamlSource YamlSource::load_string(const std::string& text, const std::string& name, Includes includes,
                                   SourceFiles* files) {
  YamlSource s;
  s.path_ = name;
  if (includes == Includes::none) {
    s.root_ = parse_mapping(text, name);
    s.root_mark_ = s.root_.Mark();
    s.origins_ = {{"", name}};
    return s;
  }
  std::vector<OpenInclude> open{{fs::weakly_canonical(name).string(), name}};
  Document doc = load_merged(text, name, open, files);
  s.root_ = doc.root;
  s.root_mark_ = doc.own_mark;
  s.origins_ = std::move(doc.origins);
  s.included_ = std::move(doc.included);
  return s;
}

void YamlSource::apply_override(const std::string& assignment) {
  size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) fail("--set '{}': expected key.path=value", assignment);
  std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  require_utf8(assignment, "--set");
  YAML::Node value;
  try {
    value = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail("--set {}: cannot parse value '{}': {}", key, text, e.msg);
  }
  put_path(key, value, "--set " + assignment);
  overrides_[key] = assignment;
}

void YamlSource::assign(const std::string& key, const YAML::Node& value, const std::string& written_at) {
  put_path(key, value, written_at);
  const std::string file = origin(written_at);
  for (auto it = overrides_.begin(); it != overrides_.end();) it = within(it->first, key) ? overrides_.erase(it) : ++it;
  for (auto it = origins_.begin(); it != origins_.end();) it = within(it->first, key) ? origins_.erase(it) : ++it;
  origins_[key] = file;
  for (auto it = assigned_marks_.begin(); it != assigned_marks_.end();)
    it = within(it->first, key) ? assigned_marks_.erase(it) : ++it;
  assigned_marks_[key] = value.Mark();
}

void YamlSource::put_path(const std::string& key, const YAML::Node& value, const std::string& what) {
  std::vector<std::string> parts;
  std::stringstream ss(key);
  for (std::string p; std::getline(ss, p, '.');) {
    if (p.empty()) fail("{}: empty component in key path '{}'", what, key);
    parts.push_back(p);
  }
  // yaml-cpp handles are references: `map` is re-pointed with reset(), never assigned, and values are
  // replaced with put(), so nothing but the named key changes.
  YAML::Node map = root_;
  std::string prefix;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    prefix += (i ? "." : "") + parts[i];
    const YAML::Node next = static_cast<const YAML::Node&>(map)[parts[i]];
    if (next.IsDefined() && !next.IsNull() && !next.IsMap())
      fail("{}: '{}' is {}, not a mapping", what, prefix, type_name(next));
    if (next.IsDefined() && next.IsMap()) {
      map.reset(next);
      continue;
    }
    YAML::Node created(YAML::NodeType::Map);
    put(map, YAML::Node(parts[i]), created);
    map.reset(created);
  }
  put(map, YAML::Node(parts.back()), value);
}

std::string YamlSource::dir() const { return dir_of(path_); }

const std::string& YamlSource::origin(const std::string& key_path) const { return origin_in(origins_, key_path); }

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
  const bool root = key_path.empty() && node.IsDefined() && node.is(root_);
  YAML::Mark mark = root ? root_mark_ : node.IsDefined() ? node.Mark() : YAML::Mark::null_mark();
  for (std::string p = key_path; mark.is_null() && !p.empty();) {  // a node a sweep or light assignment made
    if (auto it = assigned_marks_.find(p); it != assigned_marks_.end()) mark = it->second;
    const size_t dot = p.rfind('.');
    p = dot == std::string::npos ? "" : p.substr(0, dot);
  }
  if (mark.is_null() && !key_path.empty())  // a map such an assignment created on its way to its key
    for (const auto& [key, at] : assigned_marks_)
      if (within(key, key_path)) {
        mark = at;
        break;
      }
  // A document that is all includes, or a key that is not there: point at the top of the file.
  if (mark.is_null() && (root || !node.IsDefined())) mark = file_start();
  return mark_text(origin(key_path), mark);
}

std::string YamlSource::resolve_path(const std::string& value, const std::string& key_path) const {
  if (value.empty() || fs::path(value).is_absolute() || overridden(key_path)) return value;
  return (fs::path(dir_of(origin(key_path))) / value).lexically_normal().string();
}

MapReader::MapReader(const YamlSource& src, const YAML::Node& node, std::string key_path)
    : src_(src), node_(node), key_path_(std::move(key_path)) {
  if (!node_.IsDefined() || !node_.IsMap())
    fail("{}: '{}' must be a mapping, got {}", src_.where(node_, key_path_), key_path_.empty() ? "config" : key_path_,
         node_.IsDefined() ? type_name(node_) : "nothing");
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

std::string MapReader::get_input_path(const std::string& key) {
  const std::string value = get_string(key), file = src_.resolve_path(value, path(key));
  if (!is_file(file)) fail("{}: {} '{}' does not exist ({})", where(key), path(key), value, file);
  return file;
}

std::string MapReader::get_output_path(const std::string& key) {
  const std::string value = get_string(key), at = where(key), name = path(key);
  if (value.empty()) fail("{}: {} is empty; name the file to write", at, name);
  const fs::path file = src_.resolve_path(value, name);
  const std::string base = file.filename().string();
  if (base.empty() || base == "." || base == "..") fail("{}: {} '{}' names a folder; name a file", at, name, value);
  if (base.size() > NAME_MAX)
    fail("{}: {}: the file name is {} bytes long; file systems allow {}", at, name, base.size(), NAME_MAX);
  if (file.string().size() >= PATH_MAX)
    fail("{}: {}: the path is {} bytes long; the system allows {}", at, name, file.string().size(), PATH_MAX - 1);
  std::error_code ec;
  if (fs::is_directory(file, ec)) fail("{}: {} '{}' is a folder; name a file", at, name, value);
  const fs::path parent = file.parent_path();
  if (!parent.empty() && fs::exists(parent, ec) && !fs::is_directory(parent, ec))
    fail("{}: {}: '{}' is not a folder", at, name, parent.string());
  return file.string();
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
  ErrorList errors;  // every unknown key of the mapping at once
  for (auto it = node_.begin(); it != node_.end(); ++it)
    if (std::find(allowed.begin(), allowed.end(), it->first.Scalar()) == allowed.end())
      errors.capture([&] { report_unknown(it, allowed); });
  errors.throw_if_any();
}

void MapReader::report_unknown(const YAML::const_iterator& it, const std::vector<std::string>& allowed) const {
  std::string key = it->first.Scalar();
  std::string hint = did_you_mean(key, allowed), list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  fail("{}: unknown key '{}'{}; allowed here: {}", src_.where(it->first, path(key)), path(key),
       hint.empty() ? "" : " (did you mean '" + hint + "'?)", list);
}

void MapReader::finish(const std::vector<std::string>& allowed) const {
  ErrorList errors;
  for (auto it = node_.begin(); it != node_.end(); ++it)
    if (!used_.count(it->first.Scalar())) errors.capture([&] { report_unknown(it, allowed); });
  errors.throw_if_any();
}

}  // namespace dsx
