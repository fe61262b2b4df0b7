#pragma once
// Declarative, validated options for registry entries (solvers, schedules, ...).
// A registry entry lists its OptionSpecs; raw text values (from YAML or --set, each with its source
// location) are resolved against them in one place, so every component gets the same strict checks and
// `dsx solvers` can print the same table the validator enforces.
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace dsx {

enum class OptionType { Bool, Int, Double, Choice, ChoiceOrNumber, Path };  // Path: a non-empty file path

struct OptionSpec {
  std::string name;
  OptionType type = OptionType::Double;
  std::string default_value;            // text, parsed like user input
  double min = -1e300, max = 1e300;     // numeric bounds (inclusive unless open_* is set)
  bool open_min = false, open_max = false;
  std::vector<std::string> choices;     // Choice / ChoiceOrNumber
  std::string help;

  std::string allowed() const;          // "integer in [1, 4]", "one of: bh1, bh2", ...
};

// A user-provided value and where it came from ("spec.yaml:12:5" or "--set solver.r").
struct RawOption {
  std::string text;
  std::string where;
};

using OptionValue = std::variant<bool, long, double, std::string>;

class Options {
 public:
  // Validates raw against specs: unknown names, bad types and out-of-range values are errors that name
  // the option, its location and what is allowed. `context` prefixes names in messages ("solver.").
  static Options resolve(const std::vector<OptionSpec>& specs, const std::map<std::string, RawOption>& raw,
                         const std::string& context);

  bool get_bool(const std::string& name) const;
  long get_int(const std::string& name) const;
  double get_double(const std::string& name) const;  // also accepts Int values
  std::string get_string(const std::string& name) const;
  bool is_number(const std::string& name) const;
  bool has(const std::string& name) const { return values_.count(name) > 0; }

  void set(const std::string& name, OptionValue v) { values_[name] = std::move(v); }
  // Canonical "k=v;..." text in key order: part of cache keys and logs.
  std::string canonical() const;
  const std::map<std::string, OptionValue>& values() const { return values_; }

 private:
  const OptionValue& at(const std::string& name) const;
  std::map<std::string, OptionValue> values_;
};

std::string to_text(const OptionValue& v);

// Closest candidate by edit distance for "did you mean" hints; empty when nothing is close.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace dsx
