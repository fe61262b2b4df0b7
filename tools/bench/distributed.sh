#!/usr/bin/env bash
# Parallel efficiency on this machine's cores, one level of parallelism each: tools/bench/distributed.yaml run
# as 1 process with 1 worker, as 1 process with `workers: 2` (TBB workers, LibTorch at one thread each; the
# reference solve before evaluate's items uses 2 intra-op threads) and as `--nproc 2` (2 ranks, one thread
# each), each on a fresh cache, rounds interleaved so the machine's drifts hit all three alike. Prints each
# stage's median wall time, the speed-ups over 1 worker, the bytes the ranks sent to the group, teacher
# trajectories/s and the wall time of a warm rerun (every stage a cache hit). Stages of the whole spec overlap
# (the teacher and the evaluations run side by side), so the script then runs each parallel stage alone — a
# one-stage spec cut from distributed.yaml, fresh cache — in the same three ways: those are the per-stage
# parallel efficiencies.
# Usage: tools/bench/distributed.sh [path/to/dsx] [repeats]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dsx="${1:-$here/../../build/bin/dsx}"
repeats="${2:-1}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
workers2=(--set stages.teacher.workers=2 --set stages.eval.workers=2 --set stages.reference.workers=2)
for rep in $(seq "$repeats"); do
  for mode in w1 w2 r2; do
    case $mode in
      w1) extra=() ;;
      w2) extra=("${workers2[@]}") ;;
      r2) extra=(--nproc 2) ;;
    esac
    "$dsx" run "$here/distributed.yaml" --threads 1 "${extra[@]}" --cache-dir "$work/c$mode-$rep" \
      --runs-dir "$work/r$mode-$rep" > "$work/log$mode-$rep" 2>&1 || { cat "$work/log$mode-$rep"; exit 1; }
    # a cache no later run reads goes at once: its dirty pages' writeback would steal the next runs' cores
    [ "$mode" = w1 ] || rm -rf "$work/c$mode-$rep"
  done
  # warm: the same spec again on the 1-worker cache, every stage a hit (process start, plan, reads, report)
  start=$(date +%s.%N)
  "$dsx" run "$here/distributed.yaml" --threads 1 --cache-dir "$work/cw1-$rep" --runs-dir "$work/warm-$rep" \
    > "$work/logwarm-$rep" 2>&1 || { cat "$work/logwarm-$rep"; exit 1; }
  echo "$start $(date +%s.%N)" > "$work/warm-$rep.s"
  rm -rf "$work/cw1-$rep"
done
# Each of the parallel stages alone: its block of distributed.yaml under the spec's head (include, name).
for stage in teacher eval reference; do
  /usr/bin/python3 - "$here/distributed.yaml" "$stage" > "$work/alone-$stage.yaml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
head, body = text.split("\nstages:\n")
head = head.replace("include: ../../", "include: " + sys.argv[1].rsplit("/tools/", 1)[0] + "/")
blocks = re.split(r"(?m)^(?=  \w+:)", body)
print(head + "\nstages:\n" + "".join(b for b in blocks if b.startswith("  " + sys.argv[2] + ":")), end="")
PY
done
for rep in $(seq "$repeats"); do
  for stage in teacher eval reference; do
    for mode in w1 w2 r2; do
      case $mode in
        w1) extra=() ;;
        w2) extra=(--set "stages.$stage.workers=2") ;;
        r2) extra=(--nproc 2) ;;
      esac
      "$dsx" run "$work/alone-$stage.yaml" --threads 1 "${extra[@]}" --cache-dir "$work/a$stage$mode-$rep" \
        --runs-dir "$work/a$stage$mode-$rep-runs" > "$work/alog$stage$mode-$rep" 2>&1 ||
        { cat "$work/alog$stage$mode-$rep"; exit 1; }
      rm -rf "$work/a$stage$mode-$rep"
    done
  done
done
/usr/bin/python3 - "$work" "$repeats" <<'PY'
import json, glob, re, statistics, sys
work, repeats = sys.argv[1], int(sys.argv[2])
def seconds(mode):
    per = {}
    for rep in range(1, repeats + 1):
        s = json.load(open(glob.glob(f"{work}/r{mode}-{rep}/*/summary.json")[0]))
        for st in s["stages"]:
            per.setdefault(st["label"], []).append(st["seconds"])
    return {k: statistics.median(v) for k, v in per.items()}
def sent():
    out = {}
    for line in open(f"{work}/logr2-1"):
        m = re.search(r"\[rank (\d+)\] (?:DONE|HIT) (\S+) .* ([0-9.]+) KiB sent", line)
        if m: out[(int(m.group(1)), m.group(2))] = float(m.group(3))
    return out
w1, w2, r2, kib = seconds("w1"), seconds("w2"), seconds("r2"), sent()
print(f"| stage | 1 worker s | 2 workers s | speed-up | 2 ranks s | speed-up | KiB sent (rank 0 / 1) |")
print("|---|---|---|---|---|---|---|")
for k in w1:
    print(f"| {k} | {w1[k]:.2f} | {w2[k]:.2f} | {w1[k] / max(w2[k], 1e-9):.2f}× | {r2[k]:.2f} | "
          f"{w1[k] / max(r2[k], 1e-9):.2f}× | {kib.get((0, k), 0):.1f} / {kib.get((1, k), 0):.1f} |")
t1, t2, t3 = sum(w1.values()), sum(w2.values()), sum(r2.values())
print(f"| total | {t1:.2f} | {t2:.2f} | {t1 / t2:.2f}× | {t3:.2f} | {t1 / t3:.2f}× | |")
def span(r):
    a, b = map(float, open(f"{work}/warm-{r}.s").read().split())
    return b - a
warm = statistics.median(span(r) for r in range(1, repeats + 1))
seeds = 40000  # the teacher's seed range in distributed.yaml
print(f"teacher: {seeds / w1['teacher']:.0f} trajectories/s with 1 worker, {seeds / w2['teacher']:.0f} with 2 workers")
print(f"warm rerun (every stage a cache hit): {warm:.2f} s wall, against {t1:.2f} s of stages cold")
print(f"medians of {repeats} interleaved rounds; stages of one run overlap where the graph allows (4 workers on")
print("the cores while the teacher and an evaluation run side by side), so the per-stage efficiencies are these:")
print()
print("| stage alone | 1 worker s | 2 workers s | speed-up | 2 ranks s | speed-up |")
print("|---|---|---|---|---|---|")
for stage in ["teacher", "eval", "reference"]:
    t = {}
    for mode in ["w1", "w2", "r2"]:
        v = [json.load(open(glob.glob(f"{work}/a{stage}{mode}-{rep}-runs/*/summary.json")[0]))["stages"][0]["seconds"]
             for rep in range(1, repeats + 1)]
        t[mode] = statistics.median(v)
    print(f"| {stage} | {t['w1']:.2f} | {t['w2']:.2f} | {t['w1'] / t['w2']:.2f}× | {t['r2']:.2f} | "
          f"{t['w1'] / t['r2']:.2f}× |")
PY
