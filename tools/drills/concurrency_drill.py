#!/usr/bin/env python3
"""Concurrency drill (issue 14): four `dsx run` at once on one cache, with overlapping specs, while
`dsx cache gc` runs over and over beside them.

    run 1  quickstart --light                      ┐
    run 2  quickstart --light (the same spec)      │ one cache        ◄── dsx cache gc, in a loop
    run 3  quickstart --light, eval at NFE 3 and 5 │ (their stages share teachers, predictors and
    run 4  schedule_ablation --light               ┘  references)

Checks: every run exits 0; every artifact (cache key) is computed by exactly one run (the others report
HIT), and every teacher seed exactly once across the runs; the results equal a run alone on a fresh cache
(metrics.csv without timings); `dsx cache verify` is clean at the end.

  /usr/bin/python3 tools/drills/concurrency_drill.py --dsx build/bin/dsx
"""

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time

from drill_common import finish, metrics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNS = [
    ("same_1", "quickstart.yaml", []),
    ("same_2", "quickstart.yaml", []),
    ("fewer_nfe", "quickstart.yaml", ["--set", "stages.eval.nfe=[3, 5]", "--set", "stages.report.nfe=[3, 5]"]),
    ("ablation", "schedule_ablation.yaml", []),
]


def args_of(dsx, spec, extra, cache, runs):
    return [dsx, "run", os.path.join(ROOT, "configs", spec), "--light", "--cache-dir", cache, "--runs-dir", runs] + extra


def computed_keys(log):
    """Keys this run computed: 'DONE label [key]' lines (a HIT line means another run had it)."""
    return re.findall(r"^(?:\[rank \d+\] )?DONE\s+(\S+)\s+\[([0-9a-f]+)\]", log, re.M)


def seeds_computed(log):
    return [(label, int(n)) for label, n in re.findall(r"^\s+(teacher\S*): \d+ seeds cached, (\d+) computed", log, re.M)]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsx", required=True)
    a = ap.parse_args()
    dsx = os.path.abspath(a.dsx)
    work = tempfile.mkdtemp(prefix="dsx-conc-")
    cache = os.path.join(work, "cache")
    procs = []
    for name, spec, extra in RUNS:
        log = open(os.path.join(work, name + ".log"), "w")
        procs.append((name, subprocess.Popen(args_of(dsx, spec, extra, cache, os.path.join(work, "runs_" + name)),
                                             stdout=log, stderr=subprocess.STDOUT)))
    gcs = 0
    while any(p.poll() is None for _, p in procs):
        subprocess.run([dsx, "cache", "--cache-dir", cache, "gc"], capture_output=True)
        gcs += 1
        time.sleep(0.05)
    problems = []
    by_key = collections.defaultdict(list)
    seeds = collections.Counter()
    for name, p in procs:
        log = open(os.path.join(work, name + ".log")).read()
        if p.returncode != 0:
            problems.append(f"{name} exited {p.returncode}: {log.strip().splitlines()[-1:]}")
        for label, key in computed_keys(log):
            if not label.startswith("teacher"):  # teachers are shared by shards: counted by seeds below
                by_key[key].append(f"{name}:{label}")
        for label, n in seeds_computed(log):
            seeds[label] += n
    twice = {k: v for k, v in by_key.items() if len(v) > 1}
    if twice:
        problems.append(f"computed more than once: {dict(list(twice.items())[:5])}")
    # The light quickstart's teachers have 200 seeds each (four sweep points).
    for label, n in seeds.items():
        if n != 200:
            problems.append(f"{label}: {n} seeds computed across the runs, expected 200")
    # The same specs alone, each on a fresh cache (identical specs once).
    alone_of = {}
    for name, spec, extra in RUNS:
        what = (spec, tuple(extra))
        if what not in alone_of:
            alone = os.path.join(work, "alone_" + name)
            subprocess.run(args_of(dsx, spec, extra, alone, alone + "_runs"), capture_output=True)
            alone_of[what] = metrics(alone + "_runs")
        if alone_of[what] is None or alone_of[what] != metrics(os.path.join(work, "runs_" + name)):
            problems.append(f"{name}: metrics.csv differs from the same spec run alone")
    verify = subprocess.run([dsx, "cache", "--cache-dir", cache, "verify"], capture_output=True, text=True)
    if verify.returncode != 0:
        problems.append("verify: " + verify.stdout[-400:])
    print(f"concurrency_drill: {len(RUNS)} concurrent runs, {gcs} gc passes beside them, {len(by_key)} artifacts "
          f"computed, {sum(len(v) for v in by_key.values())} computations, teacher seeds {dict(seeds)}")
    return finish("concurrency_drill", problems, work)


if __name__ == "__main__":
    sys.exit(main())
