#include "solvers/families.h"

namespace dsx {

const std::vector<SolverEntry>& base_solver_entries() {
  static const std::vector<SolverEntry> entries = [] {
    std::vector<SolverEntry> all;
    for (auto family : {euler_family, heun_family, dpm2_family, dpm_singlestep_family, ipndm_family, dpmpp_family,
                        unipc_family, deis_family, scire_family})
      for (auto& e : family()) all.push_back(std::move(e));
    return all;
  }();
  return entries;
}

}  // namespace dsx
