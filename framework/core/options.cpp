#include "core/options.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "core/error.h"

namespace dsx {
namespace {

bool parse_bool(const std::string& s, bool& out) {
  if (s == "true" || s == "True" || s == "yes" || s == "on" || s == "1") return out = true, true;
  if (s == "false" || s == "False" || s == "no" || s == "off" || s == "0") return out = false, true;
  return false;
}

bool parse_long(const std::string& s, long& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(s.c_str(), &end, 10);
  if (*end != '\0' || errno != 0) return false;
  out = v;
  return true;
}

bool parse_double(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (*end != '\0') return false;
  out = v;
  return true;
}

std::string bounds_text(const OptionSpec& s) {
  bool has_min = s.min > -1e299, has_max = s.max < 1e299;
  if (!has_min && !has_max) return "";
  std::ostringstream o;
  o << (has_min && !s.open_min ? "[" : "(") << (has_min ? fmt::format("{}", s.min) : "-inf") << ", "
    << (has_max ? fmt::format("{}", s.max) : "inf") << (has_max && !s.open_max ? "]" : ")");
  return o.str();
}

bool in_bounds(const OptionSpec& s, double v) {
  if (std::isnan(v)) return false;
  if (s.open_min ? !(v > s.min) : !(v >= s.min)) return false;
  if (s.open_max ? !(v < s.max) : !(v <= s.max)) return false;
  return true;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
  return out;
}

OptionValue parse_value(const OptionSpec& spec, const std::string& text, const std::string& label) {
  auto bad = [&]() -> OptionValue { fail("{} = '{}' is invalid: expected {}", label, text, spec.allowed()); };
  switch (spec.type) {
    case OptionType::Bool: {
      bool b;
      return parse_bool(text, b) ? OptionValue(b) : bad();
    }
    case OptionType::Int: {
      long v;
      if (!parse_long(text, v) || !in_bounds(spec, double(v))) return bad();
      return v;
    }
    case OptionType::Double: {
      double v;
      if (!parse_double(text, v) || !in_bounds(spec, v)) return bad();
      return v;
    }
    case OptionType::Choice:
      if (std::find(spec.choices.begin(), spec.choices.end(), text) == spec.choices.end()) return bad();
      return text;
    case OptionType::ChoiceOrNumber: {
      if (std::find(spec.choices.begin(), spec.choices.end(), text) != spec.choices.end()) return text;
      double v;
      if (!parse_double(text, v) || !in_bounds(spec, v)) return bad();
      return v;
    }
    case OptionType::Path:
      if (text.empty()) return bad();
      return text;
    case OptionType::Text: return text;
    case OptionType::Section:
    case OptionType::Seeds:
    case OptionType::IntList:
    case OptionType::NumberList:
    case OptionType::Names:
    case OptionType::Reference:
    case OptionType::References:
      fail("internal: {} is a structured schema key, read by its stage kind, not a scalar option", label);
  }
  return bad();
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string OptionSpec::allowed() const {
  switch (type) {
    case OptionType::Bool: return "true or false";
    case OptionType::Int: return "an integer" + (bounds_text(*this).empty() ? "" : " in " + bounds_text(*this));
    case OptionType::Double: return "a number" + (bounds_text(*this).empty() ? "" : " in " + bounds_text(*this));
    case OptionType::Choice: return "one of: " + join(choices);
    case OptionType::ChoiceOrNumber:
      return "one of: " + join(choices) + ", or a number" +
             (bounds_text(*this).empty() ? "" : " in " + bounds_text(*this));
    case OptionType::Path: return "a file path";
    case OptionType::Text: return "text";
    case OptionType::Section: return "a mapping";
    case OptionType::Seeds: return "a seed range (0-99, 5,7,9) or a list of integers";
    case OptionType::IntList: return "a list of integers";
    case OptionType::NumberList: return "a list of numbers";
    case OptionType::Names: return "a list of names";
    case OptionType::Reference: return "the name of a " + join(choices) + " stage";
    case OptionType::References: return "a list of " + join(choices) + " stage names";
  }
  return "";
}

namespace opt {
namespace {
OptionSpec spec(std::string name, OptionType type, std::string default_value, std::string help) {
  OptionSpec s;
  s.name = std::move(name);
  s.type = type;
  s.default_value = std::move(default_value);
  s.help = std::move(help);
  return s;
}
OptionSpec bounded(OptionSpec s, double min, double max) {
  s.min = min, s.max = max;
  return s;
}
}  // namespace

OptionSpec flag(std::string name, bool default_value, std::string help) {
  return spec(std::move(name), OptionType::Bool, default_value ? "true" : "false", std::move(help));
}

OptionSpec integer(std::string name, long default_value, long min, long max, std::string help) {
  return bounded(spec(std::move(name), OptionType::Int, std::to_string(default_value), std::move(help)), double(min),
                 double(max));
}

OptionSpec number(std::string name, double default_value, double min, double max, std::string help) {
  // The default as to_text() writes a double.
  return bounded(spec(std::move(name), OptionType::Double, fmt::format("{}", default_value), std::move(help)), min,
                 max);
}

OptionSpec choice(std::string name, std::vector<std::string> choices, std::string default_value, std::string help) {
  OptionSpec s = spec(std::move(name), OptionType::Choice, std::move(default_value), std::move(help));
  s.choices = std::move(choices);
  return s;
}

OptionSpec choice_or_number(std::string name, std::vector<std::string> choices, std::string default_value, double min,
                            double max, std::string help) {
  OptionSpec s =
      bounded(choice(std::move(name), std::move(choices), std::move(default_value), std::move(help)), min, max);
  s.type = OptionType::ChoiceOrNumber;
  return s;
}

OptionSpec path(std::string name, std::string help) {
  return spec(std::move(name), OptionType::Path, "", std::move(help));
}

OptionSpec text(std::string name, std::string default_value, std::string help) {
  return spec(std::move(name), OptionType::Text, std::move(default_value), std::move(help));
}

OptionSpec section(std::string name, bool required, std::string default_text, std::string help) {
  OptionSpec s = spec(std::move(name), OptionType::Section, std::move(default_text), std::move(help));
  s.required = required;
  return s;
}

OptionSpec seeds(std::string name, std::string help) {
  OptionSpec s = spec(std::move(name), OptionType::Seeds, "", std::move(help));
  s.required = true;
  return s;
}

OptionSpec int_list(std::string name, std::string default_text, std::string help) {
  return spec(std::move(name), OptionType::IntList, std::move(default_text), std::move(help));
}

OptionSpec number_list(std::string name, std::string default_text, std::string help) {
  return spec(std::move(name), OptionType::NumberList, std::move(default_text), std::move(help));
}

OptionSpec names(std::string name, std::string default_text, std::string help) {
  return spec(std::move(name), OptionType::Names, std::move(default_text), std::move(help));
}

OptionSpec reference(std::string name, std::string kind, std::string help) {
  OptionSpec s = spec(std::move(name), OptionType::Reference, "", std::move(help));
  s.choices = {std::move(kind)};
  s.required = true;
  return s;
}

OptionSpec references(std::string name, std::string kind, bool required, std::string help) {
  OptionSpec s = spec(std::move(name), OptionType::References, "", std::move(help));
  s.choices = {std::move(kind)};
  s.required = required;
  return s;
}

}  // namespace opt

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

Options Options::resolve(const std::vector<OptionSpec>& specs, const std::map<std::string, RawOption>& raw,
                         const std::string& context) {
  std::vector<std::string> names;
  for (const auto& s : specs) names.push_back(s.name);
  for (const auto& [name, value] : raw) {
    if (std::find(names.begin(), names.end(), name) != names.end()) continue;
    std::string hint = did_you_mean(name, names);
    fail("{}: unknown option '{}{}'{}; allowed: {}", value.where, context, name,
         hint.empty() ? "" : " (did you mean '" + hint + "'?)", join(names));
  }
  Options out;
  for (const auto& spec : specs) {
    auto it = raw.find(spec.name);
    if (it != raw.end()) {
      out.values_[spec.name] = parse_value(spec, it->second.text, it->second.where + ": " + context + spec.name);
    } else if (!spec.default_value.empty()) {
      out.values_[spec.name] = parse_value(spec, spec.default_value, "default of " + context + spec.name);
    }
  }
  return out;
}

const OptionValue& Options::at(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) fail("option '{}' is not set", name);
  return it->second;
}

bool Options::get_bool(const std::string& name) const {
  const auto& v = at(name);
  if (auto* b = std::get_if<bool>(&v)) return *b;
  fail("option '{}' is not a boolean", name);
}

long Options::get_int(const std::string& name) const {
  const auto& v = at(name);
  if (auto* i = std::get_if<long>(&v)) return *i;
  fail("option '{}' is not an integer", name);
}

double Options::get_double(const std::string& name) const {
  const auto& v = at(name);
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* i = std::get_if<long>(&v)) return double(*i);
  fail("option '{}' is not a number", name);
}

std::string Options::get_string(const std::string& name) const {
  const auto& v = at(name);
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  return to_text(v);
}

bool Options::is_number(const std::string& name) const {
  const auto& v = at(name);
  return std::holds_alternative<double>(v) || std::holds_alternative<long>(v);
}

std::string to_text(const OptionValue& v) {
  if (auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (auto* i = std::get_if<long>(&v)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&v)) return fmt::format("{}", *d);
  return std::get<std::string>(v);
}

std::string Options::canonical() const {
  std::string out;
  for (const auto& [k, v] : values_) out += (out.empty() ? "" : ";") + k + "=" + to_text(v);
  return out;
}

}  // namespace dsx
