"""What tools/export/check_exporters.py and tools/metrics/check_metrics.py share: re-running with Debian's
/usr/bin/python3 when `python3` lacks torch/h5py/numpy (a pyenv or venv interpreter ahead of Debian's), and
the failure a check raises. Imports nothing heavy, so it can run before torch is imported."""

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


def find_dsx(given, repo):
    """The dsx binary: `given`, else the repository's build/bin/dsx, else dsx on PATH (None if none)."""
    if given:
        return os.path.abspath(given)
    for candidate in (os.path.join(repo, "build", "bin", "dsx"), shutil.which("dsx")):
        if candidate and os.path.isfile(candidate):
            return os.path.abspath(candidate)
    return None
