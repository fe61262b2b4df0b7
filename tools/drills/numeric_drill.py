#!/usr/bin/env python3
"""Numerical-fault drill (issue 14): a network that returns NaN for σ in (1.2, 1.8), inside a spec whose
stages do and do not call it there.

    nan.pt (TorchScript, written here with Debian's python3-torch): D(x, σ) = x / (1 + σ²), NaN in (1.2, 1.8)
    teacher_bad   Heun on a polynomial grid (passes through the NaN band)   → FAILED, names stage and σ
    eval_bad      Euler at NFE 8 on a polynomial grid                       → FAILED, names stage, item and σ
                  (its exact reference solve, shared by the items, meets the band first: it names its step)
    teacher_good  Euler on an explicit grid 80, 10, 3, 0.5, 0.002 (avoids it) → DONE and committed

Checks: the run exits non-zero; each failed stage's message names the stage, the σ (inside the band) and,
for evaluate, the item (solver and NFE); no cache entry of a failed stage exists; the good stage is DONE
and its entry verifies; summary.json records the statuses.

  /usr/bin/python3 tools/drills/numeric_drill.py --dsx build/bin/dsx
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import torch
from drill_common import finish

SPEC = """name: nan_drill
model: {kind: torchscript, file: nan.pt, shape: [1, 4, 4]}
precision: float64
stages:
  teacher_bad:
    kind: teacher
    schedule: {kind: polynomial, num_steps: 8, rho: 7}
    solver: {name: heun}
    m: 1
    seeds: 0-63
    batch: 32
  eval_bad:
    kind: evaluate
    seeds: 0-31
    methods: [{solver: {name: euler}}]
    nfe: [8]
    metrics: [rmse_to_reference]
  teacher_good:
    kind: teacher
    schedule: {kind: explicit, sigmas: [80, 10, 3, 0.5, 0.002]}
    solver: {name: euler}
    m: 0
    seeds: 0-63
    batch: 32
"""


class NanBand(torch.nn.Module):
    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        s = sigma.reshape(-1, 1, 1, 1)
        d = x / (1 + s * s)
        return torch.where((s > 1.2) & (s < 1.8), torch.full_like(d, float("nan")), d)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsx", required=True)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="dsx-nan-")
    torch.jit.save(torch.jit.script(NanBand()), os.path.join(work, "nan.pt"))
    with open(os.path.join(work, "nan.yaml"), "w") as f:
        f.write(SPEC)
    cache, runs = os.path.join(work, "cache"), os.path.join(work, "runs")
    p = subprocess.run([os.path.abspath(a.dsx), "run", os.path.join(work, "nan.yaml"), "--cache-dir", cache,
                        "--runs-dir", runs], capture_output=True, text=True)
    out = p.stdout + p.stderr
    problems = []
    if p.returncode == 0:
        problems.append("the run exited 0 although stages failed")
    for stage, item in (("teacher_bad", None), ("eval_bad", "euler")):
        lines = [l for l in out.splitlines() if stage in l and re.search(r"NaN|non-finite", l)]
        if not lines:
            problems.append(f"{stage}: no failure line naming it and NaN")
            continue
        # A σ inside the band, or a step [a, b] of the reference solve that overlaps it.
        sig = [float(v) for v in re.findall(r"(?:σ = |sigma in \[)([0-9.eE+-]+)", lines[0])]
        inside = any(1.2 < v < 1.8 for v in sig) or (len(sig) == 2 and min(sig) < 1.8 and max(sig) > 1.2)
        if not inside:
            problems.append(f"{stage}: the message does not name a σ inside the band: {lines[0]}")
        if item and not ((item in lines[0] and "8" in lines[0]) or "reference" in lines[0]):
            problems.append(f"{stage}: the message names neither the item ({item}, NFE 8) nor the reference solve: "
                            f"{lines[0]}")
        print(f"numeric_drill: {lines[0].strip()}")
    if not re.search(r"DONE\s+teacher_good", out):
        problems.append("teacher_good did not finish")
    entries = {os.path.basename(os.path.dirname(m)) for m in glob.glob(os.path.join(cache, "*", "*", "meta.json"))}
    kinds = {os.path.basename(os.path.dirname(os.path.dirname(m)))
             for m in glob.glob(os.path.join(cache, "*", "*", "meta.json"))}
    if kinds - {"teacher"} or len(entries) != 1:
        problems.append(f"cache entries after the run: {sorted(kinds)} ({len(entries)}); expected teacher_good's only")
    verify = subprocess.run([os.path.abspath(a.dsx), "cache", "--cache-dir", cache, "verify"], capture_output=True)
    if verify.returncode != 0:
        problems.append("dsx cache verify is not clean")
    summaries = glob.glob(os.path.join(runs, "*", "summary.json"))
    if summaries:
        statuses = {j["label"]: j["status"] for j in json.load(open(summaries[0]))["stages"]}
        print(f"numeric_drill: summary.json statuses {statuses}")
        if statuses != {"teacher_bad": "FAILED", "eval_bad": "FAILED", "teacher_good": "RUN"}:
            problems.append(f"summary.json statuses {statuses}")
    else:
        problems.append("no summary.json")
    if problems:
        print(out[-3000:])
    else:
        print("numeric_drill: failures named with their σ, nothing committed for them, the good stage committed")
    return finish("numeric_drill", problems, work)


if __name__ == "__main__":
    sys.exit(main())
