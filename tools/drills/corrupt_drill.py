#!/usr/bin/env python3
"""Corruption drill (issue 14): truncate and bit-flip every kind of file dsx reads, and check what happens.

    cache entries (teacher shards, predictors, evaluate rows, reference solutions, report, meta.json)
        corrupt one file ─► rerun the light quickstart ─► exit 0, the plan names the bad file and recomputes
                             it, metrics.csv equals the clean run, `dsx cache verify` clean afterwards
    user inputs (mixture model, latents, AMED predictor, UNet model, classifier, teacher trajectories)
        corrupt a copy ─► the command that reads it ─► exit 2 with a message naming the file, or (a flip
                          in bytes nothing reads) exit 0 with the clean result; never different numbers

Outcome classes: rebuilt / reported (by `dsx cache verify`, when no stage needed the entry; `gc` removes it)
/ refused (exit 2 naming the file) / harmless (the same result) are right; anything else — a different
result, a crash, an internal error, a message without the file — is a finding. Files dsx writes carry
HDF5's own checksums (metadata checksums of the 1.8 format, Fletcher-32 on every dataset), so a flipped bit
is an error on reading; a file from another tool without checksums (h5py's default) cannot be checked by
anyone, which is why the user inputs here are written by dsx (the shipped mixture was rewritten with them).

  /usr/bin/python3 tools/drills/corrupt_drill.py --dsx build/bin/dsx                 # CI: one of each
  /usr/bin/python3 tools/drills/corrupt_drill.py --dsx build/bin/dsx --rounds 10     # long mode
"""

import argparse
import collections
import glob
import os
import random
import shutil
import subprocess
import sys
import tempfile

import h5py
from drill_common import metrics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUICKSTART = os.path.join(ROOT, "configs", "quickstart.yaml")


TINY_NETS = """name: tiny_nets
stages:
  unet:
    kind: train_model
    dataset: {kind: fashion_mnist, split: train, limit: 64}
    net: {base_channels: 16, channel_mult: [1, 1, 1], blocks: 1, attention_at: [8]}
    steps: 4
    batch: 8
    export: tiny_unet.h5
  classifier:
    kind: train_classifier
    dataset: {kind: fashion_mnist, split: train, limit: 256}
    test: {kind: fashion_mnist, split: test, limit: 100}
    epochs: 1
    batch: 64
    export: tiny_classifier.h5
"""


def corrupt(path, mode, rng):
    data = bytearray(open(path, "rb").read())
    if mode == "truncate":
        data = data[: rng.randrange(len(data))]
    else:
        bit = rng.randrange(len(data) * 8)
        data[bit // 8] ^= 1 << (bit % 8)
    with open(path, "wb") as f:
        f.write(bytes(data))


def dsx_run(dsx, cache, runs):
    return subprocess.run([dsx, "run", QUICKSTART, "--light", "--cache-dir", cache, "--runs-dir", runs],
                          capture_output=True, text=True)


def cache_files(cache):
    """{kind: [files of committed entries]}: the HDF5 files and meta.json of every entry."""
    out = collections.defaultdict(list)
    for meta in sorted(glob.glob(os.path.join(cache, "*", "*", "meta.json"))):
        kind = os.path.basename(os.path.dirname(os.path.dirname(meta)))
        entry = os.path.dirname(meta)
        out[kind] += [meta] + sorted(glob.glob(os.path.join(entry, "**", "*.h5"), recursive=True))
    return out


def cache_drill(dsx, work, rounds, rng, results):
    clean_cache, clean_runs = os.path.join(work, "clean_cache"), os.path.join(work, "clean_runs")
    p = dsx_run(dsx, clean_cache, clean_runs)
    if p.returncode != 0:
        sys.exit(f"corrupt_drill: the clean run failed: {p.stderr[-500:]}")
    truth = metrics(clean_runs)
    kinds = cache_files(clean_cache)
    for kind in sorted(kinds):
        for r in range(rounds):
            for mode in ("truncate", "bitflip"):
                cache, runs = os.path.join(work, "cache"), os.path.join(work, "runs")
                shutil.rmtree(cache, ignore_errors=True)
                shutil.rmtree(runs, ignore_errors=True)
                shutil.copytree(clean_cache, cache)
                victim = rng.choice(cache_files(cache)[kind])
                corrupt(victim, mode, rng)
                p = dsx_run(dsx, cache, runs)
                rel = os.path.relpath(victim, cache)
                named = rel.split("/")[1][:12] in p.stdout or os.path.basename(victim) in p.stdout
                verify = subprocess.run([dsx, "cache", "--cache-dir", cache, "verify"], capture_output=True, text=True)
                entry = rel.split("/")[1]
                if p.returncode != 0:
                    outcome = f"failed (exit {p.returncode})"
                elif metrics(runs) != truth:
                    outcome = "DIFFERENT RESULT"
                elif verify.returncode != 0:
                    # The run did not need the entry (its consumers were cached): verify must name it and gc
                    # must remove it.
                    subprocess.run([dsx, "cache", "--cache-dir", cache, "gc"], capture_output=True)
                    again = subprocess.run([dsx, "cache", "--cache-dir", cache, "verify"], capture_output=True)
                    outcome = ("reported" if entry in verify.stdout + verify.stderr and again.returncode == 0
                               else "verify not clean")
                elif ("RUN" in p.stdout or "EXTEND" in p.stdout) and named:
                    outcome = "rebuilt"
                else:
                    outcome = "harmless"  # the flip hit bytes nothing reads; results equal
                detail = (p.stderr.strip().splitlines() or [""])[-1] if p.returncode else ""
                results.append(("cache/" + kind, os.path.basename(victim), mode, outcome, detail))


def user_inputs(dsx, work, clean_cache):
    """(kind, file, command that reads it) for each user-supplied file kind; files are copies in work."""
    inputs = []
    mix = os.path.join(work, "mixture.h5")
    shutil.copy(os.path.join(ROOT, "data", "gmm", "mix8_3x8x8.h5"), mix)
    gmm = os.path.join(ROOT, "configs", "sample_gmm.yaml")
    sample = [dsx, "sample", gmm, "--cache-dir", os.path.join(work, "u_cache"), "--set", "reference=none",
              "--set", f"output={os.path.join(work, 'out.h5')}"]
    inputs.append(("model (mixture)", mix, sample + ["--set", f"model.file={mix}"]))
    lat = os.path.join(work, "latents.h5")
    subprocess.run([dsx, "make-latents", lat, "--seeds", "0-15", "--shape", "3,8,8"], capture_output=True, check=True)
    inputs.append(("latents", lat, sample + ["--set", f"latents={{file: {lat}}}"]))
    pred = glob.glob(os.path.join(clean_cache, "train_amed", "*", "*.h5"))
    for src in pred:  # the first predictor that samples on the 3-point grid (NFE 3 with AFS)
        dst = os.path.join(work, "predictor.h5")
        shutil.copy(src, dst)
        cmd = sample + ["--set", "schedule.num_steps=3",
                        "--set", f"solver={{name: amed, afs: true, amed: {{predictor: {dst}}}}}"]
        if subprocess.run(cmd, capture_output=True).returncode == 0:
            inputs.append(("AMED predictor", dst, cmd))
            break
    # A tiny UNet and classifier, trained here so that they are written by this build of dsx.
    nets = os.path.join(work, "nets.yaml")
    with open(nets, "w") as f:
        f.write(TINY_NETS)
    subprocess.run([dsx, "run", nets, "--cache-dir", os.path.join(work, "nets_cache"), "--runs-dir",
                    os.path.join(work, "nets_runs")], capture_output=True)
    unet, cls = os.path.join(work, "tiny_unet.h5"), os.path.join(work, "tiny_classifier.h5")
    if os.path.isfile(unet):
        dst = os.path.join(work, "unet.h5")
        shutil.copy(unet, dst)
        inputs.append(("UNet model", dst, [dsx, "sample", os.path.join(ROOT, "configs", "sample_fashion_unet.yaml"),
                                           "--set", f"model.file={dst}", "--set", "latents.seeds=0-1",
                                           "--set", "schedule.num_steps=3", "--set", "reference=none",
                                           "--set", f"output={os.path.join(work, 'out_unet.h5')}"]))
    if os.path.isfile(cls):
        dst = os.path.join(work, "classifier.h5")
        shutil.copy(cls, dst)
        inputs.append(("classifier", dst, [dsx, "fid", "fashion_mnist:test", "fashion_mnist:train", "--classifier",
                                           dst, "--json"]))
    stats = os.path.join(work, "stats.npz")
    if subprocess.run([dsx, "fid", "fashion_mnist:test", "--pixels", "--save-stats", stats],
                      capture_output=True).returncode == 0:
        inputs.append(("reference statistics", stats, [dsx, "fid", "fashion_mnist:test", stats, "--pixels", "--json"]))
    return inputs


def result(cmd, p):
    """What a command computed, without its timings: the samples it wrote, or the metrics it printed."""
    if "sample" in cmd:
        out = [c.split("=", 1)[1] for c in cmd if c.startswith("output=")][0]
        with h5py.File(out, "r") as f:
            return f["samples"][()].tobytes()
    return p.stdout


def user_drill(dsx, work, rounds, rng, results):
    inputs = user_inputs(dsx, work, os.path.join(work, "clean_cache"))
    for kind, path, cmd in inputs:
        pristine = open(path, "rb").read()
        base = subprocess.run(cmd, capture_output=True, text=True)
        if base.returncode != 0:
            results.append((kind, os.path.basename(path), "none", "baseline failed", base.stderr[-300:]))
            continue
        base_result = result(cmd, base)
        for r in range(rounds):
            for mode in ("truncate", "bitflip"):
                open(path, "wb").write(pristine)
                corrupt(path, mode, rng)
                p = subprocess.run(cmd, capture_output=True, text=True)
                last = (p.stderr.strip().splitlines() or [""])[-1]
                if p.returncode == 2:
                    outcome = "refused" if os.path.basename(path) in p.stderr else "refused WITHOUT the file name"
                elif p.returncode == 0:
                    outcome = "harmless" if result(cmd, p) == base_result else "DIFFERENT RESULT"
                elif p.returncode == 3:
                    outcome = "INTERNAL ERROR"
                else:
                    outcome = f"CRASH/exit {p.returncode}"
                results.append((kind, os.path.basename(path), mode, outcome, last[:300]))
        open(path, "wb").write(pristine)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dsx", required=True)
    ap.add_argument("--rounds", type=int, default=1, help="corruptions of each kind per mode")
    ap.add_argument("--seed", type=int, default=20261206)
    a = ap.parse_args()
    dsx = os.path.abspath(a.dsx)
    rng = random.Random(a.seed)
    work = tempfile.mkdtemp(prefix="dsx-corrupt-")
    results = []
    cache_drill(dsx, work, a.rounds, rng, results)
    user_drill(dsx, work, a.rounds, rng, results)
    good = ("rebuilt", "reported", "harmless", "refused")
    table = collections.defaultdict(collections.Counter)
    for kind, _, _, outcome, _ in results:
        table[kind][outcome] += 1
    for kind in sorted(table):
        print(f"{kind:<24} " + ", ".join(f"{o} {n}" for o, n in sorted(table[kind].items())))
    bad = [r for r in results if r[3] not in good]
    for kind, name, mode, outcome, detail in bad:
        print(f"FINDING {kind} {name} {mode}: {outcome}: {detail}")
    detected = sum(1 for r in results if r[3] in ("rebuilt", "reported", "refused"))
    print(f"corrupt_drill: {len(results)} corruptions, {detected} detected, "
          f"{sum(1 for r in results if r[3] == 'harmless')} harmless, {len(bad)} finding(s)")
    if not bad:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"corrupt_drill: kept {work}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
