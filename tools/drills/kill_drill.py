#!/usr/bin/env python3
"""Kill drill (issue 14): SIGKILL a `dsx run` at random moments, restart it each time, and check that the
last restart ends with the results of an uninterrupted run, bit for bit, and a clean `dsx cache verify`.

    uninterrupted run ──────────────────────────────────────────────► run A, cache A
    run ─✗ run ─✗ run ─✗ … (N SIGKILLs at random moments) run ──────► run B, cache B
    compare: metrics.csv of A and B byte for byte; every HDF5 dataset of every cache entry of A equal to B's
    (shard files matched by seed range); `dsx cache verify` of B exits 0; no temp or lock file left in B

Each kill lands wherever the run is: planning, a teacher shard, a training step, an evaluate item, a cache
commit, the report. The log of each killed attempt says which stages were running; the drill prints how
the kills spread over the stage kinds. With --nproc 2 the kills hit the launcher or one of its ranks, and
run A is an uninterrupted two-rank run (float32 training is reproducible for a given world size only).

  /usr/bin/python3 tools/drills/kill_drill.py --dsx build/bin/dsx                 # CI: light quickstart, 10 kills
  /usr/bin/python3 tools/drills/kill_drill.py --dsx build/bin/dsx --full --kills 20   # long mode
"""

import argparse
import collections
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_args(dsx, spec, work, tag, opts):
    args = [dsx, "run", spec, "--cache-dir", os.path.join(work, f"cache_{tag}"), "--runs-dir",
            os.path.join(work, f"runs_{tag}")]
    if not opts.full:
        args.append("--light")
    for s in opts.set or []:
        args += ["--set", s]
    if opts.nproc > 1:
        args += ["--nproc", str(opts.nproc)]
    return args


def start(args, log):
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def running_stages(log_text):
    """Stage labels started but not finished, by the log ("RUN label (...)" ... "DONE label [key]")."""
    started, done = [], set()
    for line in log_text.splitlines():
        line = re.sub(r"^\[rank \d+\] ", "", line)
        m = re.match(r"^(RUN|DONE|FAILED|HIT)\s+(\S+)", line)
        if m and m.group(1) == "RUN":
            started.append(m.group(2))
        elif m:
            done.add(m.group(2))
    return [s for s in started if s not in done]


def stage_kind(label):
    return re.sub(r"\[.*\]$", "", label)


def h5_datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def entry_files(cache):
    """{(kind/key, file name without its random suffix): path} of every HDF5 file in committed entries."""
    out = {}
    for kind in sorted(os.listdir(cache)):
        kdir = os.path.join(cache, kind)
        if not os.path.isdir(kdir) or kind == "checkpoints":
            continue
        for key in sorted(os.listdir(kdir)):
            edir = os.path.join(kdir, key)
            if not os.path.isfile(os.path.join(edir, "meta.json")):
                continue
            for dirpath, _, files in os.walk(edir):
                for name in files:
                    if name.endswith(".h5"):
                        stable = re.sub(r"-[0-9a-f]{8}\.h5$", ".h5", name)
                        rel = os.path.relpath(os.path.join(dirpath, stable), cache)
                        out[rel] = os.path.join(dirpath, name)
    return out


def same_arrays(a, b):
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind in "fc":
        return np.array_equal(a, b, equal_nan=True)
    return np.array_equal(a, b)


def compare(work):
    problems = []
    runs = {t: os.path.join(work, f"runs_{t}") for t in "AB"}
    csv = {}
    for t in "AB":
        found = [os.path.join(d, "metrics.csv") for d in (os.path.join(runs[t], x) for x in os.listdir(runs[t]))
                 if os.path.isfile(os.path.join(d, "metrics.csv"))]
        # Every row but the timings (wall_seconds measures this machine, not the method).
        csv[t] = [r for r in open(sorted(found)[-1]).read().splitlines() if ",wall_seconds," not in r] if found else None
    if not csv["A"] or csv["A"] != csv["B"]:
        diff = [(x, y) for x, y in zip(csv["A"] or [], csv["B"] or []) if x != y][:3]
        problems.append(f"metrics.csv differs (or is missing): {diff}")
    fa, fb = entry_files(os.path.join(work, "cache_A")), entry_files(os.path.join(work, "cache_B"))
    if sorted(fa) != sorted(fb):
        problems.append(f"cache entries differ: only A {sorted(set(fa) - set(fb))[:5]}, "
                        f"only B {sorted(set(fb) - set(fa))[:5]}")
    compared = 0
    for rel in sorted(set(fa) & set(fb)):
        da, db = h5_datasets(fa[rel]), h5_datasets(fb[rel])
        if sorted(da) != sorted(db):
            problems.append(f"{rel}: datasets differ")
            continue
        for name in da:
            compared += 1
            if not same_arrays(np.asarray(da[name]), np.asarray(db[name])):
                problems.append(f"{rel}/{name}: values differ")
    return problems, compared, len(fa)


def leftovers(cache):
    out = []
    for dirpath, dirs, files in os.walk(cache):
        for name in files + dirs:
            if re.search(r"\.tmp|\.partial|\.claim", name):  # lock files stay by design (flock targets)
                out.append(os.path.relpath(os.path.join(dirpath, name), cache))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsx", required=True)
    ap.add_argument("--spec", default=os.path.join(ROOT, "configs", "quickstart.yaml"))
    ap.add_argument("--full", action="store_true", help="the spec as written (default: --light)")
    ap.add_argument("--set", action="append", help="passed to every run")
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--nproc", type=int, default=1)
    ap.add_argument("--seed", type=int, default=20261206)
    ap.add_argument("--keep", action="store_true", help="keep the working folder")
    a = ap.parse_args()
    dsx = os.path.abspath(a.dsx)
    rng = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="dsx-kill-")
    with open(os.path.join(work, "A.log"), "w") as log:
        t0 = time.monotonic()
        rc = subprocess.call(run_args(dsx, a.spec, work, "A", a), stdout=log, stderr=subprocess.STDOUT)
        clean_s = time.monotonic() - t0
    if rc != 0:
        print(f"kill_drill: the uninterrupted run failed (exit {rc}); see {work}/A.log")
        return 1
    print(f"kill_drill: uninterrupted run {clean_s:.1f} s; now {a.kills} kills at random moments")
    # Attempts last U(0.3, 0.3 + 1.5·T/kills) s: together a little more than T plus the restarts, so the
    # kills spread over the whole run while each attempt still gets somewhere.
    hits = collections.Counter()
    kills = 0
    attempt = 0
    finished_early = 0
    while kills < a.kills:
        attempt += 1
        log_path = os.path.join(work, f"B{attempt}.log")
        with open(log_path, "w") as log:
            p = start(run_args(dsx, a.spec, work, "B", a), log)
            time.sleep(rng.uniform(0.3, 0.3 + 1.5 * clean_s / a.kills))
            if p.poll() is not None:
                finished_early += 1
                if p.returncode != 0:
                    print(f"kill_drill: attempt {attempt} failed by itself (exit {p.returncode}); see {log_path}")
                    return 1
                break  # nothing left to kill: the run completed between kills
            victim = p.pid
            if a.nproc > 1 and rng.random() < 0.5 and children(p.pid):
                victim = rng.choice(children(p.pid))  # a rank instead of the launcher
            stages = running_stages(open(log_path, errors="replace").read())
            os.kill(victim, signal.SIGKILL)
            if victim != p.pid:
                p.wait(timeout=60)
            else:
                p.wait()
                for c in children(p.pid):  # PR_SET_PDEATHSIG takes them; make sure before the restart
                    try:
                        os.kill(c, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            time.sleep(0.1 if a.nproc == 1 else 0.5)
            kills += 1
            for s in stages or ["(planning or between stages)"]:
                hits[stage_kind(s)] += 1
    with open(os.path.join(work, "B_final.log"), "w") as log:
        rc = subprocess.call(run_args(dsx, a.spec, work, "B", a), stdout=log, stderr=subprocess.STDOUT)
    if rc != 0:
        print(f"kill_drill: the final restart failed (exit {rc}); see {work}/B_final.log")
        return 1
    problems, datasets, files = compare(work)
    verify = subprocess.run([dsx, "cache", "--cache-dir", os.path.join(work, "cache_B"), "verify"],
                            capture_output=True, text=True)
    if verify.returncode != 0:
        problems.append("dsx cache verify: " + (verify.stdout + verify.stderr).strip()[-400:])
    left = leftovers(os.path.join(work, "cache_B"))
    if left:
        problems.append(f"left in the cache: {left[:5]}")
    print(f"kill_drill: {kills} SIGKILLs survived ({attempt} attempts, {finished_early} finished before its kill)")
    print("kill_drill: stages running at the kills: " + ", ".join(f"{k} {v}" for k, v in sorted(hits.items())))
    print(f"kill_drill: compared {datasets} datasets in {files} HDF5 files and metrics.csv; cache verify "
          f"{'clean' if verify.returncode == 0 else 'FAILED'}")
    for p in problems:
        print("PROBLEM: " + p)
    if not a.keep and not problems:
        subprocess.call(["rm", "-rf", work])
    else:
        print(f"kill_drill: kept {work}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
