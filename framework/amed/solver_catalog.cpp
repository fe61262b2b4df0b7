#include "amed/solver_catalog.h"

#include "amed/amed_solvers.h"
#include "core/registry.h"
#include "learned/epd.h"

namespace dsx {

const std::vector<SolverEntry>& solver_entries() {
  static const std::vector<SolverEntry> entries = [] {
    std::vector<SolverEntry> all = base_solver_entries();
    for (auto& e : amed_family()) all.push_back(std::move(e));
    // With a predictor the factory returns the plugin, running the base solver built from the same options;
    // without one the base solver exactly as before.
    for (auto& e : all) {
      if (!is_amed_plugin_base(e.name)) continue;
      for (const auto& spec : amed_option_specs(false)) e.options.push_back(spec);
      e.make = [base = e.make, student = e.name](const Options& o) -> std::unique_ptr<Solver> {
        if (!o.has("amed.predictor")) return base(o);
        return make_amed_solver(student, o, base(o));
      };
      e.summary += "; with amed.predictor: AMED-Plugin";
    }
    all.push_back(epd_solver_entry());  // a learned solver on the same interface (learned/epd.h)
    return all;
  }();
  return entries;
}

const SolverEntry& solver_entry(const std::string& name) { return find_entry(solver_entries(), name, "solver.name"); }

std::unique_ptr<Solver> make_solver(const std::string& name, const std::map<std::string, RawOption>& raw,
                                    const std::string& context) {
  return build_solver(solver_entry(name), raw, context);
}

}  // namespace dsx
