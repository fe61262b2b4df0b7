#pragma once
// Strict YAML reading with locations. A YamlSource owns a parsed document, the file it came from (and,
// with Includes::merge, the files it included, each key remembering which file it came from) and the
// --set overrides applied to it; MapReader reads one mapping, checks types with the node's file:line:col
// and, on finish(), rejects unknown keys with a did-you-mean hint. Nothing is silently ignored.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/options.h"

namespace dsx {

// What a top-level `include:` key means. `merge`: it holds a file path or a list of them, relative to the
// including file; each is loaded (with its own includes) and deep-merged in order under the including file
// (maps key by key, anything else replaced whole; later files win, the including file wins over all), and
// the key is removed. `none`: it is an ordinary key, so configs that do not support it reject it.
enum class Includes { none, merge };

// The texts of the files a spec reads (itself and its includes), each read from disk once however often a
// document is built from them (a sweep builds one per point), so every point sees the same files.
class SourceFiles {
 public:
  const std::string& text(const std::string& path);
  int64_t reads() const { return reads_; }

 private:
  std::map<std::string, std::string> texts_;
  int64_t reads_ = 0;
};

class YamlSource {
 public:
  // Syntax errors carry file:line:col; include cycles and missing includes the location of the entry.
  // `files`: where file texts come from (read on each call when null).
  static YamlSource load_file(const std::string& path, Includes includes = Includes::none,
                              SourceFiles* files = nullptr);
  static YamlSource load_string(const std::string& text, const std::string& name, Includes includes = Includes::none,
                                SourceFiles* files = nullptr);
  // "a.b.c=value": value parsed as YAML (so lists and numbers work); creates missing maps.
  void apply_override(const std::string& assignment);
  // key.path = value, where the value was written in this source's files under the key path `written_at`
  // (a `sweep:` or `light:` entry): unlike --set, its locations and relative paths stay those of that file.
  void assign(const std::string& key, const YAML::Node& value, const std::string& written_at);

  const YAML::Node& root() const { return root_; }
  const std::string& path() const { return path_; }
  std::string dir() const;                                                // directory of the file, for relative paths
  const std::vector<std::string>& included() const { return included_; }  // every file merged in, in order
  // The file that key_path (or its nearest ancestor with a recorded origin) was written in.
  const std::string& origin(const std::string& key_path) const;
  // "file:line:col" of a node, or "--set a.b=v" if that key path was overridden on the command line. The
  // file is the one the key came from, which for a merged include is not path().
  std::string where(const YAML::Node& node, const std::string& key_path) const;
  // True if key_path or one of its parents was set with --set.
  bool overridden(const std::string& key_path) const;
  // Resolves a path written in a file relative to that file (the included one for a key that came from an
  // include); --set paths relative to the working directory.
  std::string resolve_path(const std::string& value, const std::string& key_path) const;

 private:
  const std::string* override_of(const std::string& key_path) const;  // the --set covering key_path
  void put_path(const std::string& key, const YAML::Node& value, const std::string& what);
  YAML::Node root_;
  YAML::Mark root_mark_;  // of path()'s own document: after a merge the root map node may be an include's
  std::string path_;
  std::vector<std::string> included_;
  // Key path → file it was written in, for keys that came from another file than their parent ("" → path_).
  std::map<std::string, std::string> origins_;
  std::map<std::string, std::string> overrides_;  // key path → original assignment text
  // Key paths a sweep point or the light section assigned → where the assigned value is written: the
  // nodes they create carry no position of their own.
  std::map<std::string, YAML::Mark> assigned_marks_;
};

class MapReader {
 public:
  // `node` must be a map (else an error at its location). `key_path` is its dotted path ("" for root).
  MapReader(const YamlSource& src, const YAML::Node& node, std::string key_path);

  bool has(const std::string& key) const;
  YAML::Node node(const std::string& key) const;    // marks the key as used
  std::string where(const std::string& key) const;  // location of key's value (or of the map)
  std::string path(const std::string& key) const { return key_path_.empty() ? key : key_path_ + "." + key; }

  std::string get_string(const std::string& key, const std::optional<std::string>& fallback = std::nullopt);
  // A file dsx will write, relative to the spec (resolve_path), checked now so that an impossible name fails
  // before the work, not after it: not empty, not a folder, a file name and path the file system accepts.
  std::string get_output_path(const std::string& key);
  // A file dsx will read, relative to the spec (resolve_path); fails here, at the key, when it is not there.
  std::string get_input_path(const std::string& key);
  double get_double(const std::string& key, const std::optional<double>& fallback = std::nullopt);
  long get_int(const std::string& key, const std::optional<long>& fallback = std::nullopt);
  bool get_bool(const std::string& key, const std::optional<bool>& fallback = std::nullopt);
  std::vector<double> get_doubles(const std::string& key);
  // Remaining scalar entries as raw options (for registry-validated option sets), excluding `skip`.
  std::map<std::string, RawOption> rest_as_options(const std::set<std::string>& skip);

  // Errors on the first key not in `allowed` (call before reading, so a typo beats "missing key").
  void reject_unknown(const std::vector<std::string>& allowed) const;
  // Errors on any key not read, listing `allowed` and a did-you-mean hint.
  void finish(const std::vector<std::string>& allowed) const;
  // Fails: `key` is required here (at the mapping's location).
  [[noreturn]] void missing(const std::string& key) const;

 private:
  template <typename T>
  T get_scalar(const std::string& key, const std::optional<T>& fallback, const char* expected);
  [[noreturn]] void report_unknown(const YAML::const_iterator& it, const std::vector<std::string>& allowed) const;
  const YamlSource& src_;
  YAML::Node node_;
  std::string key_path_;
  mutable std::set<std::string> used_;
};

}  // namespace dsx
