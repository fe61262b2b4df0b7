// Placeholder: the solver-library issue implements this family.
#include "solvers/families.h"

namespace dsx {

std::vector<SolverEntry> dpm2_family() { return {}; }

}  // namespace dsx
