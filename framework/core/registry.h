#pragma once
// One lookup for name-keyed registries (solvers, schedule kinds, metrics, model kinds, ...), so every
// registry rejects an unknown name with the same message.
#include <string>
#include <vector>

#include "core/error.h"
#include "core/options.h"  // did_you_mean

namespace dsx {

// The entry of `entries` whose `.name == name`; otherwise fails with
//   "{where}: {what_key} = '{name}' is unknown (did you mean 'X'?); known: a, b, c"
// (the "{where}: " prefix only when `where` is non-empty, the hint only when a known name is close).
template <class T>
const T& find_entry(const std::vector<T>& entries, const std::string& name, const std::string& what_key,
                    const std::string& where = "") {
  std::vector<std::string> names;
  names.reserve(entries.size());
  for (const T& e : entries) {
    if (e.name == name) return e;
    names.push_back(e.name);
  }
  std::string hint = did_you_mean(name, names), known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  fail("{}{} = '{}' is unknown{}; known: {}", where.empty() ? "" : where + ": ", what_key, name,
       hint.empty() ? "" : " (did you mean '" + hint + "'?)", known);
}

}  // namespace dsx
