// Euler and Heun rows: docs/solvers.md §6.4 (float64) and docs/amed.md §12.3 (official float32 toy).
#include "cases.h"
#include "support/testbeds.h"

namespace dsx::test {
namespace {

DSX_REGISTER_CASES(std::vector<GoldenCase>{
    {"docs/solvers.md §6.4 karras DDIM", "euler", {}, "gauss3", karras_grid(11), at::kDouble,
     {0.674972532326, -0.881795505660, 1.016688600854}, -1, 10, 1e-10, 1e-11},
    {"docs/solvers.md §6.4 karras Heun", "heun", {}, "gauss3", karras_grid(11), at::kDouble,
     {0.885100280354, -1.062770868789, 1.030719190294}, -1, 20, 1e-10, 1e-11},
    {"docs/solvers.md §6.4 logSNR DDIM", "euler", {}, "gauss3", logsnr_grid(11), at::kDouble,
     {0.682231110156, -0.878915867358, 1.018225727444}, -1, 10, 1e-10, 1e-11},
    {"docs/solvers.md §6.4 logSNR Heun", "heun", {}, "gauss3", logsnr_grid(11), at::kDouble,
     {0.892007770326, -1.086465001968, 1.028207272244}, -1, 20, 1e-10, 1e-11},
    {"docs/amed.md §12.3 poly7 euler N=6", "euler", {}, "toy192", f32(karras_grid(6)), at::kFloat,
     {0.114473, 0.388638, 0.180707, 0.463809}, 1.480409e-01, 5, 1e-5, 2e-6},
    {"docs/amed.md §12.3 poly7 heun N=4", "heun", {}, "toy192", f32(karras_grid(4)), at::kFloat,
     {0.91184, 1.834069, -0.69683, 0.572742}, 1.002867e+00, 6, 1e-5, 2e-6},
    {"docs/amed.md §12.3 poly7 heun N=4 afs", "heun", {{"afs", "true"}}, "toy192", f32(karras_grid(4)), at::kFloat,
     {0.911047, 1.919692, -0.624636, 0.608687}, 1.008885e+00, 5, 1e-5, 2e-6},
    {"docs/amed.md §12.3 unif1 euler N=6", "euler", {}, "toy192", time_uniform_float32(6, 1), at::kFloat, {},
     1.629431e-01, 5},
    {"docs/amed.md §12.3 unif1 heun N=4", "heun", {}, "toy192", time_uniform_float32(4, 1), at::kFloat, {},
     4.918506e-01, 6},
    {"docs/amed.md §12.3 unif1 heun N=4 afs", "heun", {{"afs", "true"}}, "toy192", time_uniform_float32(4, 1),
     at::kFloat, {}, 5.164428e-01, 5},
    {"docs/amed.md §12.3 logsnr euler N=6", "euler", {}, "toy192", f32(logsnr_grid(6)), at::kFloat, {}, 1.357069e-01, 5},
});

DSX_REGISTER_CASES(std::vector<OrderCase>{
    {"Euler, Gaussian, polynomial grid", "euler", {}, "gauss3", "polynomial", {21, 41, 81, 161}, 1.0},
    {"Euler, mixture, logSNR grid", "euler", {}, "gmm", "logsnr", {21, 41, 81, 161}, 1.0},
    {"Heun, Gaussian, polynomial grid", "heun", {}, "gauss3", "polynomial", {21, 41, 81, 161}, 2.0},
    {"Heun, mixture, logSNR grid", "heun", {}, "gmm", "logsnr", {21, 41, 81, 161}, 2.0},
});

}  // namespace
}  // namespace dsx::test
