#!/usr/bin/env bash
# CTest `learned_testbed`: the learned Fashion-MNIST testbed end to end in light mode, as CI runs it —
#   configs/fashion_mnist_unet.yaml --light   trains a UNet (150 steps) and the feature classifier (1 epoch),
#                                             exporting both to models/
#   configs/amed_fashion_mnist.yaml --light   teacher → AMED-Solver / Plugins → every solver → report (RMSE,
#                                             classifier FD with its floor, sample and training-data grids)
#   dsx sample + dsx fid --classifier         the UNet's samples scored against the test set
# and checks what each leaves behind. Works on a copy of configs/ in a temporary folder (the exports and
# runs go there, never into the source tree); usage: check_learned_testbed.sh DSX_BINARY
set -euo pipefail
dsx=$(realpath "$1")
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src/configs" "$work/configs"
cd "$work"
export DSX_PROGRESS=log
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== train the UNet and the classifier (light)"
"$dsx" run configs/fashion_mnist_unet.yaml --light --threads 2 --cache-dir cache --runs-dir runs | tee train.log
test -s models/fashion_mnist_unet_light.h5 || fail "the UNet was not exported"
test -s models/fashion_mnist_classifier_light.h5 || fail "the classifier was not exported"
grep -q "classifier: test accuracy 0\.[89]" train.log || fail "classifier accuracy below 0.8 (min_accuracy should have failed the stage)"

echo "== a second run is all cache hits and exports again"
rm models/fashion_mnist_unet_light.h5
"$dsx" run configs/fashion_mnist_unet.yaml --light --cache-dir cache --runs-dir runs | tee again.log
grep -q "HIT       unet" again.log || fail "the trained UNet was not a cache hit"
test -s models/fashion_mnist_unet_light.h5 || fail "a cache hit did not export the model"

echo "== the AMED table on the UNet (light)"
"$dsx" run configs/amed_fashion_mnist.yaml --light --threads 2 --cache-dir cache --runs-dir runs | tee amed.log
report=$(ls -d runs/*-amed_fashion_mnist)/report.md
test -s "$report" || fail "no report"
for method in "ipndm / polynomial" "AMED-Solver (amed_solver)" "AMED-Plugin ipndm (amed_ipndm)" \
              "AMED-Plugin dpmpp (amed_dpmpp)" "AMED-Plugin dpm2 (amed_dpm2)"; do
  grep -qF "| $method" "$report" || fail "report has no row for $method"
done
if grep -E "^\| (ipndm|euler|dpmpp) / polynomial" "$report" | grep -qiE "nan|inf"; then fail "non-finite errors"; fi
for nfe in 3 5 7 9; do test -s "$(dirname "$report")/samples_nfe$nfe.png" || fail "no sample grid for NFE $nfe"; done
grep -q "samples_nfe5.png" "$report" || fail "the report does not show the sample grids"
test -s "$(dirname "$report")/data.png" || fail "no training-data grid beside the sample grids"
grep -q "^## fd (lower is better)" "$report" || fail "the report has no fd table"
grep -q "^Data images (fashion_mnist:test), as many as the evaluated seeds: [0-9]" "$report" || fail "no FD floor"
if grep -A20 "^## fd" "$report" | grep -E "^\| (ipndm|euler|dpmpp) / polynomial" | grep -qiE "nan|inf"; then
  fail "non-finite FD"
fi
test "$(find cache -name reference_stats.npz | wc -l)" = 1 || fail "the training set's statistics are not one cache entry"

echo "== samples of the UNet, FD with the classifier's features"
"$dsx" sample configs/sample_fashion_unet.yaml --set model.file=models/fashion_mnist_unet_light.h5 \
  --set latents.seeds=0-31 --set schedule.num_steps=6 --set output=samples.h5 --threads 2
"$dsx" fid samples.h5 fashion_mnist:test --classifier models/fashion_mnist_classifier_light.h5 --json | tee fid.json
/usr/bin/python3 -c "
import json, math, sys
r = json.load(open('fid.json'))
assert math.isfinite(r['fd']) and r['fd'] > 0, r
assert r['count_a'] == 32 and r['count_b'] == 10000, r
"
echo "learned_testbed: OK"
