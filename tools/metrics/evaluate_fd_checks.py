"""Checks of evaluate's `fd` section and the report's `data_grid` through `dsx run`, run by check_metrics.py
on its fixtures (`d`: B.h5 and B_png, features.pt and the numpy features of each).

The model is the empirical image mixture (model.empirical: the exact denoiser of 32 Fashion-MNIST images), so
the samples are real 1×32×32 images; two solvers at NFE 3 and 5 on 200 seeds (more than the 16 features).
  evaluate_fd.rows_equal_numpy    every item's `fd` row = numpy's FD of the features of its saved samples
                                  (samples.h5) to B's
  evaluate_fd.floor               the `exact data` row = numpy's FD of the first 200 of B_png's images to B's
  evaluate_fd.reference_cached    B's statistics are one cache entry (reference_stats.npz = numpy's mu, sigma);
                                  a second spec on the same reference reuses it and repeats the rows bitwise
  evaluate_fd.data_grid           report's data.png = B's first images, EDM-quantised, tiled as the sample grids
  evaluate_fd.bad_specs           fd on a non-image model, a missing reference: errors at the spec's line
"""

import glob
import json
import os
import subprocess

import h5py
import numpy as np

import reference_metrics as ref
from system_python import expect

SEEDS = 200
GRID_SEEDS = 4
FD_TOL = 1e-6  # relative: the same float32 features on both sides, float64 moments
STATS_TOL = 1e-6


def spec_text(nfe, model=None, reference="B.h5"):
    model = model or "{kind: empirical, dataset: {kind: fashion_mnist, split: test, limit: 32}}"
    return """name: evaluate_fd
model: %s
stages:
  eval:
    kind: evaluate
    seeds: 0-%d
    metrics: []
    methods: [{solver: {name: euler}}, {solver: {name: heun}}]
    nfe: %s
    save_samples: true
    fd:
      features: {kind: torchscript, file: features.pt}
      reference: %s
      floor: B_png
  report:
    kind: report
    inputs: [eval]
    grid_seeds: %d
    data_grid: B.h5
""" % (model, SEEDS - 1, json.dumps(nfe), reference, GRID_SEEDS)


class Run:
    """One `dsx run` of a spec written into the fixtures' folder (features.pt, B.h5, B_png are beside it)."""

    def __init__(self, binary, d, name, text):
        self.work = d.work
        self.spec = os.path.join(d.work, name)
        with open(self.spec, "w") as f:
            f.write(text)
        self.proc = subprocess.run(
            [binary, "run", self.spec, "--cache-dir", os.path.join(d.work, "run-cache"), "--runs-dir",
             os.path.join(d.work, "runs-" + name.split(".")[0])],
            cwd=d.work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=600)

    def ok(self):
        expect(self.proc.returncode == 0, "dsx run {} exited {}: {}".format(
            os.path.basename(self.spec), self.proc.returncode, (self.proc.stderr or self.proc.stdout)[-400:]))
        return self

    def run_dir(self):
        dirs = glob.glob(os.path.join(self.work, "runs-" + os.path.basename(self.spec).split(".")[0], "*"))
        expect(len(dirs) == 1, "run directories: {}".format(dirs))
        return dirs[0]

    def rows(self):
        with open(os.path.join(self.run_dir(), "results.json")) as f:
            return json.load(f)


def fd_rows(rows):
    return {(r["solver"], r["nfe"]): r["value"] for r in rows if r["metric"] == "fd"}


def close(got, want, what):
    expect(abs(got - want) <= FD_TOL * abs(want) + 1e-9, "{}: dsx {!r} vs numpy {!r}".format(what, got, want))


def check_evaluate_fd(run, binary, d, features_of, quantise, read_png):
    """features_of(images) -> numpy features as check_metrics computes them; quantise: EDM's uint8; read_png:
    a grey PNG as uint8 [H, W]."""
    state = {}

    def first():
        if "first" not in state:
            state["first"] = Run(binary, d, "fd_first.yaml", spec_text([3, 5])).ok()
        return state["first"]

    def rows_equal_numpy():
        rows = fd_rows(first().rows())
        samples = glob.glob(os.path.join(d.work, "run-cache", "**", "samples.h5"), recursive=True)
        expect(len(samples) == 1, "samples.h5 files in the cache: {}".format(samples))
        seen = 0
        with h5py.File(samples[0], "r") as f:
            for item in sorted(f.keys()):
                key = (f[item].attrs["solver"], int(f[item].attrs["nfe"]))
                key = (key[0].decode() if isinstance(key[0], bytes) else key[0], key[1])
                x = f[item][()]
                expect(x.shape == (SEEDS, 1, 32, 32), "{}: shape {}".format(item, x.shape))
                expect(key in rows, "no fd row for {} (rows {})".format(key, sorted(rows)))
                close(rows[key], ref.frechet_distance_of_features(features_of(x), d.fb), "fd of {}".format(key))
                seen += 1
        expect(seen == 4 and len(rows) == 5, "{} items, {} fd rows (want 4 and 4 + the floor)".format(seen, len(rows)))
    run("evaluate_fd.rows_equal_numpy", rows_equal_numpy)

    def floor():
        rows = fd_rows(first().rows())
        expect(("exact data", 0) in rows, "no floor row: {}".format(sorted(rows)))
        close(rows[("exact data", 0)], ref.frechet_distance_of_features(d.fb_png[:SEEDS], d.fb), "floor")
        with open(os.path.join(first().run_dir(), "report.md")) as f:
            expect("Data images (" in f.read(), "report.md does not name the floor's images")
    run("evaluate_fd.floor", floor)

    def reference_cached():
        first()
        stats = glob.glob(os.path.join(d.work, "run-cache", "**", "reference_stats.npz"), recursive=True)
        expect(len(stats) == 1, "reference_stats.npz files: {}".format(stats))
        mu_b, sigma_b = ref.gaussian_fit(d.fb)
        with np.load(stats[0]) as z:
            for key, want in (("mu", mu_b), ("sigma", sigma_b)):
                err = np.abs(z[key] - want).max()
                expect(err <= STATS_TOL * np.abs(want).max(), "cached {} differs by {:.3g}".format(key, err))
        before = os.stat(stats[0]).st_mtime_ns
        second = Run(binary, d, "fd_second.yaml", spec_text([3])).ok()
        again = glob.glob(os.path.join(d.work, "run-cache", "**", "reference_stats.npz"), recursive=True)
        expect(again == stats and os.stat(stats[0]).st_mtime_ns == before, "the statistics were computed again")
        a, b = fd_rows(first().rows()), fd_rows(second.rows())
        for key in (("euler", 3), ("heun", 3), ("exact data", 0)):
            expect(a.get(key) == b.get(key), "{}: {!r} then {!r}".format(key, a.get(key), b.get(key)))
    run("evaluate_fd.reference_cached", reference_cached)

    def data_grid():
        png = os.path.join(first().run_dir(), "data.png")
        expect(os.path.isfile(png), "no data.png")
        rows = 2  # two methods per NFE: the data grid is as large as one sample grid
        u8 = quantise(d.b_images[:rows * GRID_SEEDS]).numpy()[:, 0]
        pad, h, w = 2, u8.shape[1], u8.shape[2]
        want = np.full((pad + rows * (h + pad), pad + GRID_SEEDS * (w + pad)), 255, dtype=np.uint8)
        for i, img in enumerate(u8):
            r, c = divmod(i, GRID_SEEDS)
            want[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = img
        got = read_png(png)
        expect(got.shape == want.shape, "data.png is {}, want {}".format(got.shape, want.shape))
        expect((got == want).all(), "{} pixels differ".format(int((got != want).sum())))
        sample_grid = read_png(os.path.join(first().run_dir(), "samples_nfe3.png"))
        expect(sample_grid.shape == got.shape, "sample grid {} vs data grid {}".format(sample_grid.shape, got.shape))
    run("evaluate_fd.data_grid", data_grid)

    def bad_specs():
        mixture = "{kind: gaussian_mixture, means: [[0.0, 0.0]], stds: [1.0]}"
        for name, text, words in (
                ("fd_not_images.yaml", spec_text([3], model=mixture), ["fd_not_images.yaml:", "fd needs a model of images"]),
                ("fd_no_reference.yaml", spec_text([3], reference="missing.h5"),
                 ["fd_no_reference.yaml:13:", "missing.h5", "no such file"])):
            r = Run(binary, d, name, text).proc
            expect(r.returncode > 0, "{}: expected an error exit, got {}".format(name, r.returncode))
            for w in words:
                expect(w in r.stderr, "{}: stderr does not say {!r}: {!r}".format(name, w, r.stderr.strip()[-300:]))
    run("evaluate_fd.bad_specs", bad_specs)
