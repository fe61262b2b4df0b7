"""What the drills share: the results of a run to compare (metrics.csv without timings) and the ending
(print the problems, keep the working folder when there are any, exit status)."""

import glob
import os
import shutil


def metrics(runs_dir):
    """The last run's metrics.csv rows under runs_dir, without wall_seconds (it measures the machine), or
    None when there is none."""
    found = sorted(glob.glob(os.path.join(runs_dir, "*", "metrics.csv")))
    return [r for r in open(found[-1]).read().splitlines() if ",wall_seconds," not in r] if found else None


def finish(name, problems, work):
    """Prints each problem; removes `work` when there are none, else keeps it and says where. Exit status."""
    for p in problems:
        print("PROBLEM: " + p)
    if problems:
        print(f"{name}: kept {work}")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0
