#!/usr/bin/env python3
"""Full-disk drill (issue 14): the light quickstart on a small tmpfs that fills up at different moments.

    tmpfs (16 MiB) ─ a filler file leaves F free ─ dsx run (cache and run directory on the tmpfs)
        F small: the run fails with a clear message (no space), `dsx cache verify` is clean (no corrupt
                 entry was committed); then the filler is removed and a rerun completes with the results of
                 a run on a roomy disk (metrics.csv without timings), verify clean
        F large: the run completes

The free space steps through levels so that the disk fills during teacher generation, training, evaluation
and the report. Needs root (mount); prints a note and exits 77 (CTest: skipped) otherwise.

  /usr/bin/python3 tools/drills/disk_full_drill.py --dsx build/bin/dsx
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

from drill_common import finish, metrics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUICKSTART = os.path.join(ROOT, "configs", "quickstart.yaml")
SIZE_MB = 16


def run(dsx, cache, runs):
    return subprocess.run([dsx, "run", QUICKSTART, "--light", "--cache-dir", cache, "--runs-dir", runs],
                          capture_output=True, text=True)


def stage_at_failure(out):
    failed = re.findall(r"^FAILED (\S+?):", out, re.M)
    return failed[0] if failed else "(before any stage)"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsx", required=True)
    ap.add_argument("--free", default="0.3,1,2,3,4,5,6,8", help="free MiB left by the filler, one run each")
    a = ap.parse_args()
    dsx = os.path.abspath(a.dsx)
    work = tempfile.mkdtemp(prefix="dsx-full-")
    mnt = os.path.join(work, "mnt")
    os.makedirs(mnt)
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", mnt],
                                           capture_output=True).returncode != 0:
        print("disk_full_drill: cannot mount a tmpfs (needs root): skipped")
        shutil.rmtree(work, ignore_errors=True)
        return 77
    problems = []
    try:
        p = run(dsx, os.path.join(work, "roomy_cache"), os.path.join(work, "roomy_runs"))
        if p.returncode != 0:
            print(p.stdout[-2000:] + p.stderr[-2000:])
            return 1
        truth = metrics(os.path.join(work, "roomy_runs"))
        for free in [float(f) for f in a.free.split(",")]:
            subprocess.run(["rm", "-rf", os.path.join(mnt, "cache"), os.path.join(mnt, "runs"), os.path.join(mnt, "fill")])
            st = os.statvfs(mnt)
            fill = st.f_bavail * st.f_frsize - int(free * 2**20)
            with open(os.path.join(mnt, "fill"), "wb") as f:
                f.truncate(0)
                chunk = b"\0" * 2**20
                while fill > 0:
                    f.write(chunk[: min(fill, len(chunk))])
                    fill -= len(chunk)
            cache, runs = os.path.join(mnt, "cache"), os.path.join(mnt, "runs")
            p = run(dsx, cache, runs)
            out = p.stdout + p.stderr
            verify = subprocess.run([dsx, "cache", "--cache-dir", cache, "verify"], capture_output=True, text=True)
            if p.returncode == 0:
                outcome = "fit"
            else:
                msg = [l for l in out.splitlines() if re.search(r"[Nn]o space|disk full|ENOSPC", l)]
                outcome = f"failed in {stage_at_failure(out)}"
                if not msg:
                    problems.append(f"free {free} MiB: failed without saying the disk is full: {out.strip()[-300:]}")
                elif p.returncode not in (1, 2):
                    problems.append(f"free {free} MiB: exit {p.returncode}: {msg[0]}")
                if msg:
                    outcome += f" ({msg[0].strip()[:140]})"
            if verify.returncode != 0:
                problems.append(f"free {free} MiB: verify after the full disk: {verify.stdout[-300:]}")
            os.remove(os.path.join(mnt, "fill"))
            again = run(dsx, cache, runs)
            if again.returncode != 0:
                problems.append(f"free {free} MiB: the rerun with space failed: {(again.stdout + again.stderr)[-300:]}")
            elif metrics(runs) != truth:
                problems.append(f"free {free} MiB: the rerun's metrics differ from a roomy run")
            if subprocess.run([dsx, "cache", "--cache-dir", cache, "verify"], capture_output=True).returncode != 0:
                problems.append(f"free {free} MiB: verify after the rerun is not clean")
            print(f"disk_full_drill: {free:>4} MiB free: {outcome}; rerun with space "
                  f"{'completed' if again.returncode == 0 else 'FAILED'}")
    finally:
        subprocess.run(["umount", mnt])
    return finish("disk_full_drill", problems, work)


if __name__ == "__main__":
    sys.exit(main())
