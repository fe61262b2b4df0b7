// Singlestep DPM-Solver-3 and DPM-Solver++(2S): docs/solvers.md §6.4 "per interval" rows (float64) and
// measured orders (§6.3: 2S → 2, DPM-Solver-3 → 3).
#include "cases.h"

namespace dsx::test {
namespace {

const std::map<std::string, std::string> kSolver3 = {{"order", "3"}};
const std::map<std::string, std::string> kPlusPlus2S = {{"order", "2"}, {"predict_x0", "true"}};

// clang-format off: one row per case, aligned as a table
DSX_REGISTER_CASES(std::vector<GoldenCase>{
    golden_row("docs/solvers.md §6.4 karras DPM-Solver-3 per interval", "dpm_single", kSolver3)
        .on("gauss3", karras(11), at::kDouble)
        .expect({0.798874231460, -0.994150002597, 1.023810237913})
        .nfe(30)
        .tol(1e-10, 1e-11),
    golden_row("docs/solvers.md §6.4 logSNR DPM-Solver-3 per interval", "dpm_single", kSolver3)
        .on("gauss3", logsnr(11), at::kDouble)
        .expect({0.799493795645, -0.995021369881, 1.023820101105})
        .nfe(30)
        .tol(1e-10, 1e-11),
    golden_row("docs/solvers.md §6.4 karras DPM++(2S) per interval", "dpm_single", kPlusPlus2S)
        .on("gauss3", karras(11), at::kDouble)
        .expect({0.766270290538, -0.967027946454, 1.021497094190})
        .nfe(20)
        .tol(1e-10, 1e-11),
    golden_row("docs/solvers.md §6.4 logSNR DPM++(2S) per interval", "dpm_single", kPlusPlus2S)
        .on("gauss3", logsnr(11), at::kDouble)
        .expect({0.770393154447, -0.966207794099, 1.022434875437})
        .nfe(20)
        .tol(1e-10, 1e-11),
});
// clang-format on

// {description, solver, options, testbed, schedule, grid points N, expected order[, tolerance (0.3)]}
// clang-format off: one row per case, aligned as a table
DSX_REGISTER_CASES(std::vector<OrderCase>{
    {"DPM-Solver-3 singlestep, mixture, logSNR grid", "dpm_single", kSolver3, "gmm", "logsnr", {21, 41, 81, 161}, 3.0},
    {"DPM++(2S), mixture, logSNR grid", "dpm_single", kPlusPlus2S, "gmm", "logsnr", {21, 41, 81, 161}, 2.0},
    {"DPM-Solver-2 singlestep noise, Gaussian, polynomial grid",
     "dpm_single",
     {{"order", "2"}},
     "gauss3",
     "polynomial",
     {21, 41, 81, 161},
     2.0},
});
// clang-format on

}  // namespace
}  // namespace dsx::test
