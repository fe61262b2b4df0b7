// Euler and Heun rows: docs/solvers.md §6.4 (float64) and docs/amed.md §12.3 (official float32 toy).
#include "cases.h"
#include "support/testbeds.h"

namespace dsx::test {
namespace {

// clang-format off: one row per case, aligned as a table
DSX_REGISTER_CASES(std::vector<GoldenCase>{
    golden_row("docs/solvers.md §6.4 karras DDIM", "euler")
        .on("gauss3", karras(11), at::kDouble)
        .expect({0.674972532326, -0.881795505660, 1.016688600854})
        .nfe(10)
        .tol(1e-10, 1e-11),
    golden_row("docs/solvers.md §6.4 karras Heun", "heun")
        .on("gauss3", karras(11), at::kDouble)
        .expect({0.885100280354, -1.062770868789, 1.030719190294})
        .nfe(20)
        .tol(1e-10, 1e-11),
    golden_row("docs/solvers.md §6.4 logSNR DDIM", "euler")
        .on("gauss3", logsnr(11), at::kDouble)
        .expect({0.682231110156, -0.878915867358, 1.018225727444})
        .nfe(10)
        .tol(1e-10, 1e-11),
    golden_row("docs/solvers.md §6.4 logSNR Heun", "heun")
        .on("gauss3", logsnr(11), at::kDouble)
        .expect({0.892007770326, -1.086465001968, 1.028207272244})
        .nfe(20)
        .tol(1e-10, 1e-11),
    golden_row("docs/amed.md §12.3 poly7 euler N=6", "euler")
        .on("toy192", f32(karras(6)), at::kFloat)
        .expect({0.114473, 0.388638, 0.180707, 0.463809})
        .rmse(1.480409e-01)
        .nfe(5)
        .tol(1e-5, 2e-6),
    golden_row("docs/amed.md §12.3 poly7 heun N=4", "heun")
        .on("toy192", f32(karras(4)), at::kFloat)
        .expect({0.91184, 1.834069, -0.69683, 0.572742})
        .rmse(1.002867e+00)
        .nfe(6)
        .tol(1e-5, 2e-6),
    golden_row("docs/amed.md §12.3 poly7 heun N=4 afs", "heun", {{"afs", "true"}})
        .on("toy192", f32(karras(4)), at::kFloat)
        .expect({0.911047, 1.919692, -0.624636, 0.608687})
        .rmse(1.008885e+00)
        .nfe(5)
        .tol(1e-5, 2e-6),
    golden_row("docs/amed.md §12.3 unif1 euler N=6", "euler")
        .on("toy192", unif32(6, 1), at::kFloat)
        .rmse(1.629431e-01)
        .nfe(5),
    golden_row("docs/amed.md §12.3 unif1 heun N=4", "heun")
        .on("toy192", unif32(4, 1), at::kFloat)
        .rmse(4.918506e-01)
        .nfe(6),
    golden_row("docs/amed.md §12.3 unif1 heun N=4 afs", "heun", {{"afs", "true"}})
        .on("toy192", unif32(4, 1), at::kFloat)
        .rmse(5.164428e-01)
        .nfe(5),
    golden_row("docs/amed.md §12.3 logsnr euler N=6", "euler")
        .on("toy192", f32(logsnr(6)), at::kFloat)
        .rmse(1.357069e-01)
        .nfe(5),
});
// clang-format on

// {description, solver, options, testbed, schedule, grid points N, expected order[, tolerance (0.3)]}
// clang-format off: one row per case, aligned as a table
DSX_REGISTER_CASES(std::vector<OrderCase>{
    {"Euler, Gaussian, polynomial grid", "euler", {}, "gauss3", "polynomial", {21, 41, 81, 161}, 1.0},
    {"Euler, mixture, logSNR grid", "euler", {}, "gmm", "logsnr", {21, 41, 81, 161}, 1.0},
    {"Heun, Gaussian, polynomial grid", "heun", {}, "gauss3", "polynomial", {21, 41, 81, 161}, 2.0},
    {"Heun, mixture, logSNR grid", "heun", {}, "gmm", "logsnr", {21, 41, 81, 161}, 2.0},
});
// clang-format on

}  // namespace
}  // namespace dsx::test
