#!/usr/bin/env bash
# Runs configs/sample_gmm.yaml for each solver at several NFE and prints RMSE vs the exact solution.
set -euo pipefail
cd "$(dirname "$0")/.."
dsx=${DSX:-build/bin/dsx}
mkdir -p runs
nfes=(4 8 16)
solvers=$("$dsx" solvers | awk '/^[a-z_0-9]+$/ {print $1}')
printf '| solver (polynomial ρ=7, 64 samples) |'; for n in "${nfes[@]}"; do printf ' NFE %s |' "$n"; done; echo
printf '|---|'; for _ in "${nfes[@]}"; do printf -- '---|'; done; echo
for s in $solvers; do
  [ "$s" = amed ] && continue  # needs a trained predictor: see configs/amed_toy_*.yaml
  per_step=1 extra=()
  case $s in heun|dpm2) per_step=2 ;; dpm_single) per_step=2 extra=(--set solver.order=2) ;; esac
  printf '| %s |' "$s"
  for n in "${nfes[@]}"; do
    points=$(( n / per_step + 1 ))
    out=$("$dsx" sample configs/sample_gmm.yaml --set reference=exact --set solver.name="$s" \
      --set schedule.num_steps="$points" "${extra[@]}" 2>&1) || {
      printf ' n/a |'; continue; }
    rmse=$(sed -n 's/.*rmse_vs_exact \([^ ]*\).*/\1/p' <<<"$out")
    nfe=$(sed -n 's/.*nfe \([0-9]*\).*/\1/p' <<<"$out")
    printf ' %s%s |' "$rmse" "$([ "$nfe" = "$n" ] || echo " (nfe $nfe)")"
  done
  echo
done
