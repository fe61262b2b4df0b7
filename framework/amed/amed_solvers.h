#pragma once
// AMED solvers for the catalog (amed/solver_catalog.h, docs/amed.md §5): the `amed` entry (AMED-Solver) and
// the AMED-Plugin on euler, dpm2, ipndm and dpmpp, selected by the options amed.predictor (HDF5 weights
// file) and amed.features (model | zero). Kept free of torch/nn headers so the catalog compiles fast.
#include <memory>
#include <string>
#include <vector>

#include "solvers/solver.h"

namespace dsx {

// Students with an AMED-Plugin besides the AMED-Solver itself.
// The bases with the official AMED-Plugin (diff-sampler): euler | dpm2 | ipndm | dpmpp.
bool is_official_plugin_base(const std::string& solver_name);
// Every base an AMED-Plugin can run on: the official ones and every solver with a step-level form
// (Solver::step_run: ipndm_v, deis, scire, unipc), for which dsx's plugin is the consistent extension.
bool is_amed_plugin_base(const std::string& solver_name);
// A non-official base's own options (not afs/thresholding/amed.*), resolved, as "k=v;k=v" in key order.
std::string base_option_text(const SolverEntry& entry, const Options& resolved);
// amed.predictor (Path; required = no default, the factory insists) and amed.features.
std::vector<OptionSpec> amed_option_specs(bool predictor_required);
// The `amed` entry (AMED-Solver).
std::vector<SolverEntry> amed_family();
// An AMED solver for `student` (amed | euler | dpm2 | ipndm | dpmpp) from resolved options of that entry
// (its own options, the common ones and amed.*). `base`: the base solver built from the same options (its
// step-level form is what a multistep student runs; null for amed). Loads the predictor now; when the file
// carries sampling settings they must agree with the options (and, at sample time, with the σ grid).
std::unique_ptr<Solver> make_amed_solver(const std::string& student, const Options& options,
                                         std::unique_ptr<Solver> base = nullptr);

}  // namespace dsx
