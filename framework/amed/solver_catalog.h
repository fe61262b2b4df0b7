#pragma once
// The solver catalog: every solver a spec, the CLI or a test can name. solvers/ defines the base solvers
// and knows nothing of AMED; this layer adds the `amed` entry (AMED-Solver) and turns euler, dpm2, ipndm
// and dpmpp into their AMED-Plugin when solver.amed.predictor is given (docs/amed.md §5.3), and the learned
// `epd` solver (learned/epd.h).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "solvers/solver.h"

namespace dsx {

const std::vector<SolverEntry>& solver_entries();
const SolverEntry& solver_entry(const std::string& name);  // error lists the known names (did-you-mean)

// Validates raw options (unknown keys, types, ranges) and builds the solver. `context` prefixes messages.
std::unique_ptr<Solver> make_solver(const std::string& name, const std::map<std::string, RawOption>& raw,
                                    const std::string& context = "solver.");

}  // namespace dsx
