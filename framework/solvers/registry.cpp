#include "amed/amed_solvers.h"
#include "solvers/families.h"

namespace dsx {

const std::vector<SolverEntry>& solver_entries() {
  static const std::vector<SolverEntry> entries = [] {
    std::vector<SolverEntry> all;
    for (auto family : {euler_family, heun_family, dpm2_family, dpm_singlestep_family, ipndm_family, dpmpp_family, unipc_family,
                        deis_family, scire_family, amed_family})
      for (auto& e : family()) all.push_back(std::move(e));
    // AMED-Plugin (docs/amed.md §5.3): these base solvers accept amed.predictor / amed.features; with a
    // predictor the factory returns the plugin solver, without one the base solver exactly as before.
    for (auto& e : all) {
      if (!is_amed_plugin_base(e.name)) continue;
      for (const auto& spec : amed_option_specs(false)) e.options.push_back(spec);
      e.make = [base = e.make, student = e.name](const Options& o) {
        return o.has("amed.predictor") ? make_amed_solver(student, o) : base(o);
      };
      e.summary += "; with amed.predictor: AMED-Plugin";
    }
    return all;
  }();
  return entries;
}

}  // namespace dsx
