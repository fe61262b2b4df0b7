#!/usr/bin/env bash
# 1 rank vs `--nproc 2` on tools/bench/distributed.yaml, each on a fresh cache, LibTorch at one thread per
# rank (the machine's cores are the ranks). Prints each stage's wall time, the ratio, and the bytes the
# ranks sent to the group. Usage: tools/bench/distributed.sh [path/to/dsx] [repeats]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dsx="${1:-$here/../../build/bin/dsx}"
repeats="${2:-1}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for rep in $(seq "$repeats"); do
  for n in 1 2; do  # interleaved: the machine's noise hits both
    "$dsx" run "$here/distributed.yaml" --threads 1 --nproc "$n" --cache-dir "$work/c$n-$rep" \
      --runs-dir "$work/r$n-$rep" > "$work/log$n-$rep" 2>&1 || { cat "$work/log$n-$rep"; exit 1; }
  done
done
/usr/bin/python3 - "$work" "$repeats" <<'PY'
import json, glob, re, statistics, sys
work, repeats = sys.argv[1], int(sys.argv[2])
def seconds(n):
    per = {}
    for rep in range(1, repeats + 1):
        s = json.load(open(glob.glob(f"{work}/r{n}-{rep}/*/summary.json")[0]))
        for st in s["stages"]:
            per.setdefault(st["label"], []).append(st["seconds"])
    return {k: statistics.median(v) for k, v in per.items()}
def sent(n):
    out = {}
    for line in open(f"{work}/log{n}-1"):
        m = re.search(r"\[rank (\d+)\] (?:DONE|HIT) (\S+) .* ([0-9.]+) KiB sent", line)
        if m: out[(int(m.group(1)), m.group(2))] = float(m.group(3))
    return out
one, two, kib = seconds(1), seconds(2), sent(2)
print(f"{'stage':<12} {'1 rank s':>9} {'2 ranks s':>10} {'speed-up':>9}  KiB sent (rank 0 / rank 1)")
for k in one:
    print(f"{k:<12} {one[k]:9.2f} {two[k]:10.2f} {one[k] / max(two[k], 1e-9):8.2f}x  "
          f"{kib.get((0, k), 0):.1f} / {kib.get((1, k), 0):.1f}")
t1, t2 = sum(one.values()), sum(two.values())
print(f"{'total':<12} {t1:9.2f} {t2:10.2f} {t1 / t2:8.2f}x   (medians of {repeats} interleaved runs)")
PY
