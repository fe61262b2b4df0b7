#pragma once
// Declarative, validated options for registry entries (solvers, schedules, ...).
// A registry entry lists its OptionSpecs; raw text values (from YAML or --set, each with its source
// location) are resolved against them in one place, so every component gets the same strict checks and
// `dsx solvers` can print the same table the validator enforces.
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace dsx {

// Path: a non-empty file path. The structured types describe keys of stage schemas (read by their stage
// kinds, shown by `dsx run --explain`): Section (a nested mapping with its own keys), Seeds (a seed range
// like 0-99 or a list), IntList, NumberList, Names (a list of names), Reference / References (stage names).
enum class OptionType {
  Bool,
  Int,
  Double,
  Choice,
  ChoiceOrNumber,
  Path,
  Text,
  Section,
  Seeds,
  IntList,
  NumberList,
  Names,
  Reference,
  References
};

struct OptionSpec {
  std::string name;
  OptionType type = OptionType::Double;
  std::string default_value;         // text, parsed like user input
  double min = -1e300, max = 1e300;  // numeric bounds (inclusive unless open_* is set)
  bool open_min = false, open_max = false;
  std::vector<std::string> choices;  // Choice / ChoiceOrNumber; Reference(s): the stage kind named
  std::string help;
  bool required = false;  // a key with no default that must be given

  std::string allowed() const;  // "integer in [1, 4]", "one of: bh1, bh2", ...

  // Chainable refinements of an opt:: factory's result: make the lower / upper bound exclusive.
  //   opt::number("r", 0.5, 0.0, 1.0, "...").exclusive_min().exclusive_max()   // r in (0, 1)
  OptionSpec& exclusive_min() & { return open_min = true, *this; }
  OptionSpec& exclusive_max() & { return open_max = true, *this; }
  OptionSpec exclusive_min() && { return open_min = true, std::move(*this); }
  // A key that must be given (no default): opt::path("file", "...").required_key()
  OptionSpec required_key() && { return required = true, std::move(*this); }
  OptionSpec exclusive_max() && { return open_max = true, std::move(*this); }
};

// Named factories for OptionSpec tables; defaults are given typed and stored as the text a user would write.
namespace opt {
OptionSpec flag(std::string name, bool default_value, std::string help);
OptionSpec integer(std::string name, long default_value, long min, long max, std::string help);       // [min, max]
OptionSpec number(std::string name, double default_value, double min, double max, std::string help);  // [min, max]
OptionSpec choice(std::string name, std::vector<std::string> choices, std::string default_value, std::string help);
// One of `choices`, or a number in [min, max]; the default may be either (as text).
OptionSpec choice_or_number(std::string name, std::vector<std::string> choices, std::string default_value, double min,
                            double max, std::string help);
OptionSpec path(std::string name, std::string help);                             // a non-empty file path, no default
OptionSpec text(std::string name, std::string default_value, std::string help);  // any string
// Schema keys (see OptionType); `default_text` is what a user would write, "" for none.
OptionSpec section(std::string name, bool required, std::string default_text, std::string help);
OptionSpec seeds(std::string name, std::string help);  // required
OptionSpec int_list(std::string name, std::string default_text, std::string help);
OptionSpec number_list(std::string name, std::string default_text, std::string help);
OptionSpec names(std::string name, std::string default_text, std::string help);
OptionSpec reference(std::string name, std::string kind, std::string help);  // required
OptionSpec references(std::string name, std::string kind, bool required, std::string help);
}  // namespace opt

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
