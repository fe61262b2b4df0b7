#pragma once
// Each solver family file defines one of these; solvers/registry.cpp lists them.
#include <vector>

#include "solvers/solver.h"

namespace dsx {

std::vector<SolverEntry> euler_family();           // euler.cpp
std::vector<SolverEntry> heun_family();            // heun.cpp
std::vector<SolverEntry> dpm2_family();            // dpm2.cpp
std::vector<SolverEntry> dpm_singlestep_family();  // dpm_singlestep.cpp
std::vector<SolverEntry> ipndm_family();           // ipndm.cpp   (ipndm, ipndm_v)
std::vector<SolverEntry> dpmpp_family();           // dpmpp.cpp
std::vector<SolverEntry> unipc_family();           // unipc.cpp
std::vector<SolverEntry> deis_family();            // deis.cpp
std::vector<SolverEntry> scire_family();           // scire.cpp

}  // namespace dsx
