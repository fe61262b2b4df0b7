#pragma once
// SciRE-Solver's recursive-difference coefficient φ (docs/solvers.md §2.2, §2.4), exposed for tests.
#include <vector>

namespace dsx {

// The official `series_phi(x, n)`: element j = Σ_{k=1}^{j+3} (−x)^{k−1}/k!, j = 0..n−1. For x = 1 these
// are the truncated alternating series φ1(j+3): 2/3, 0.625, 0.6333, ... → 1 − 1/e.
std::vector<double> scire_series_phi(double x, int n);

// HEAD φ of multistep step `step` (1..steps; steps = grid intervals) for the given solver order:
// warm-up step k < order → phi[2k−1]; later: step < steps/2 → phi[2(step−order)+1], step = steps/2 →
// phi[−1], otherwise phi[2(steps−step)], with phi = series_phi(1, steps+1).
double scire_multistep_phi(int step, int steps, int order);

// HEAD φ of singlestep outer step j (0-based) of K outer steps, phi = series_phi(1, K): j < K/2 → phi[2j],
// j = K/2 → phi[−1], otherwise phi[2(K−j)−1] (negative indices count from the end, as in Python; HEAD's
// K = ⌊NFE/order⌋ makes its extra agile step j = K land on phi[−1]).
double scire_singlestep_phi(int j, int K);

}  // namespace dsx
