"""What tools/export/check_exporters.py and tools/metrics/check_metrics.py share: re-running with Debian's
/usr/bin/python3 when `python3` lacks torch/h5py/numpy (a pyenv or venv interpreter ahead of Debian's), the
failure a check raises and the runner that prints PASS/FAIL per check. Imports nothing heavy, so it can run
before torch is imported."""

import os
import shutil
import sys


def reexec_with_system_python():
    """Debian's python3-torch/python3-h5py live in /usr/bin/python3's dist-packages; when `python3` is
    another interpreter (pyenv, venv) without them, re-run this script with /usr/bin/python3."""
    try:
        for name in ("torch", "h5py", "numpy"):
            __import__(name)
        return
    except ImportError as e:
        missing = e.name
    system = "/usr/bin/python3"
    if (os.environ.get("DSX_CHECK_REEXEC") or not os.path.exists(system)
            or os.path.realpath(sys.executable) == os.path.realpath(system)):
        print("FAIL environment: {} is not importable from {} (apt-get install python3-torch python3-h5py)"
              .format(missing, sys.executable))
        print("0 passed, 1 failed")
        sys.exit(1)
    sys.stderr.write("note: {} has no {}; re-running with {}\n".format(sys.executable, missing, system))
    sys.stderr.flush()
    os.environ["DSX_CHECK_REEXEC"] = "1"
    os.execv(system, [system] + sys.argv)


class CheckFailed(Exception):
    """A check's expectation did not hold; the runner prints FAIL with the message."""


def expect(cond, message):
    if not cond:
        raise CheckFailed(message)


class CheckRunner:
    """`runner(name, fn)` runs one check and prints `PASS name` or `FAIL name: why` (a crash in a check is a
    failure of that check, not of the run); `finish(label, start)` prints the tally and exits 0 iff all
    passed. `failures`: the exception types that are expectations (printed without their type name)."""

    def __init__(self, numbered=False, failures=(CheckFailed,)):
        self.results, self.numbered, self.failures = [], numbered, failures

    def __call__(self, name, fn):
        label = "{:02d} {}".format(len(self.results) + 1, name) if self.numbered else name
        try:
            fn()
            self.results.append(True)
            print("PASS " + label)
        except self.failures as e:
            self.results.append(False)
            print("FAIL {}: {}".format(label, str(e).replace("\n", " | ")))
        except Exception as e:  # noqa: BLE001
            self.results.append(False)
            print("FAIL {}: {}: {}".format(label, type(e).__name__, str(e).replace("\n", " | ")))
        sys.stdout.flush()

    def finish(self, label, start):
        import time
        passed = sum(self.results)
        sys.stderr.write("{}: {:.1f} s\n".format(label, time.time() - start))
        print("{} passed, {} failed".format(passed, len(self.results) - passed))
        sys.exit(0 if passed == len(self.results) else 1)


def find_dsx(given, repo):
    """The dsx binary: `given`, else the repository's build/bin/dsx, else dsx on PATH (None if none)."""
    if given:
        return os.path.abspath(given)
    for candidate in (os.path.join(repo, "build", "bin", "dsx"), shutil.which("dsx")):
        if candidate and os.path.isfile(candidate):
            return os.path.abspath(candidate)
    return None
