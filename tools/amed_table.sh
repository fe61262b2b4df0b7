#!/usr/bin/env bash
# AMED-Solver and AMED-Plugin(iPNDM) trained on the shipped mixture next to every baseline at NFE 3/5/7/9:
# RMSE at σ_min against the exact ODE solution on 256 held-out seeds. Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
dsx=${DSX:-build/bin/dsx}
mkdir -p runs
sample_cfg=runs/gmm_sample.yaml
cat > "$sample_cfg" <<'YAML'
model: {kind: gaussian_mixture, file: ../data/gmm/mix8_3x8x8.h5}
latents: {seeds: 100000-100255}
schedule: {kind: polynomial, num_steps: 4}
solver: {name: euler}
precision: float32
output: gmm_samples.h5
YAML
rmse() { "$dsx" sample "$sample_cfg" "$@" | sed -n 's/.*rmse_vs_exact \([^ ]*\).*/\1/p'; }
nfes=(3 5 7 9)
row() { printf '| %s |' "$1"; shift; for v in "$@"; do printf ' %s |' "$v"; done; echo; }

declare -a amed_solver amed_ipndm
for nfe in "${nfes[@]}"; do
  n=$(( (nfe + 1) / 2 + 1 ))  # AFS: NFE = 2(N−1) − 1
  "$dsx" teacher configs/gmm_amed_teacher.yaml --set schedule.num_steps=$n --set output=runs/t_heun_$n.h5 >/dev/null 2>&1
  "$dsx" train-amed configs/gmm_amed_train.yaml --quiet --set trajectories=runs/t_heun_$n.h5 \
    --set output=runs/p_amed_$n.h5 >/dev/null
  amed_solver+=("$(rmse --set schedule.kind=time_uniform --set schedule.rho=1 --set schedule.num_steps=$n \
    --set solver='{name: amed, afs: true, amed: {predictor: runs/p_amed_'$n'.h5}}')")
  "$dsx" teacher configs/gmm_amed_teacher.yaml --set schedule='{kind: polynomial, num_steps: '$n', rho: 7}' \
    --set teacher='{solver: {name: ipndm, max_order: 4}, m: 2}' --set output=runs/t_ipndm_$n.h5 >/dev/null 2>&1
  "$dsx" train-amed configs/gmm_amed_train.yaml --quiet --set trajectories=runs/t_ipndm_$n.h5 \
    --set student='{name: ipndm, afs: true, max_order: 4}' --set scale_time=0.2 --set output=runs/p_ipndm_$n.h5 >/dev/null
  amed_ipndm+=("$(rmse --set schedule.num_steps=$n \
    --set solver='{name: ipndm, afs: true, max_order: 4, amed: {predictor: runs/p_ipndm_'$n'.h5}}')")
done

echo "| method (schedule) | NFE 3 | NFE 5 | NFE 7 | NFE 9 |"
echo "|---|---|---|---|---|"
baseline() {  # name, schedule settings, points-per-NFE rule (1: N = NFE+1, 2: N = (NFE+1)/2+1 with AFS)
  local label=$1 solver=$2 sched=$3 rule=$4 vals=()
  for nfe in "${nfes[@]}"; do
    if [ "$rule" = 1 ]; then n=$((nfe + 1)); s="{name: $solver}"; else n=$(( (nfe + 1) / 2 + 1 )); s="{name: $solver, afs: true}"; fi
    vals+=("$(rmse --set schedule="{$sched, num_steps: $n}" --set solver="$s")")
  done
  row "$label" "${vals[@]}"
}
baseline "DPM-Solver++(3M) (logsnr)" dpmpp "kind: logsnr" 1
baseline "UniPC bh2 p=3 (logsnr)" unipc "kind: logsnr" 1
baseline "iPNDM (poly ρ=7)" ipndm "kind: polynomial, rho: 7" 1
baseline "iPNDM_v (poly ρ=7)" ipndm_v "kind: polynomial, rho: 7" 1
baseline "DEIS tAB3 (time_uniform ρ=2)" deis "kind: time_uniform, rho: 2" 1
baseline "SciRE v1 ms-2 (nsr)" scire "kind: nsr" 1
baseline "DDIM/Euler (poly ρ=7)" euler "kind: polynomial, rho: 7" 1
baseline "Heun, AFS (poly ρ=7)" heun "kind: polynomial, rho: 7" 2
baseline "DPM-Solver-2, AFS (poly ρ=7)" dpm2 "kind: polynomial, rho: 7" 2
row "AMED-Solver (time_uniform ρ=1)" "${amed_solver[@]}"
row "AMED-Plugin iPNDM (poly ρ=7)" "${amed_ipndm[@]}"
