#!/usr/bin/env python3
"""End-to-end check of `dsx fid` (FD, KID, precision/recall) against independent numpy references.

  /usr/bin/python3 tools/metrics/check_metrics.py [--dsx build/bin/dsx] [--keep DIR]
  /usr/bin/python3 tools/metrics/check_metrics.py --self-test      # the references only; no dsx needed

It writes, into a temporary directory (or --keep DIR, left in place):
  * HDF5 sample files (dataset `samples`, float32 [N, 1, 32, 32] in [−1, 1], seeded numpy): A (300 images
    of low-frequency waves), B (300, higher frequencies: another distribution), A200 (200 more from A's
    distribution: the Na ≠ Nb case);
  * features.pt: a TorchScript feature net, forward(x [N, 1, H, W] float32) -> [N, 16] float32 (standardised
    energies of seeded convolutions); float64 inside, so its float32 output does not depend on the batch split;
  * inception_standin.pt, made by tools/export/inception_standin.py (the inception-2015-12-05.pt interface);
  * B_png/: B's images as 8-bit grey PNGs (EDM's uint8 conversion), written by a small zlib writer here;
  * npz files: numpy's savez (float64) and savez_compressed (float32) of B's feature statistics, and broken
    inputs (an npz without sigma, a folder without PNGs).
Then it runs `dsx fid` and compares with tools/metrics/reference_metrics.py (float64 numpy), features
computed here by the same TorchScript files at one thread and in dsx's batches (--batch 64):
  FD rel 1e-6 / abs 1e-9; KID abs 1e-7 / rel 1e-5 where the subset is deterministic (one subset of all rows,
  Na = Nb: the unbiased MMD² is permutation invariant); where it is random (Na ≠ Nb), the mean within 5
  standard errors of its exact expectation over draws and the std within a factor 1.3 of ours;
  precision/recall exactly; saved statistics rel 1e-6 of the matrix scale; inception stand-in FD rel 1e-5.
CLI assumed: dsx fid A B [--features F.pt | --inception F.pt] [--kid] [--pr] [--json] [--batch N]
[--kid-subsets S] [--kid-subset-size M] [--pr-k K] [--save-stats OUT.npz]; --json prints one object with
fd, kid_mean, kid_std, precision, recall, count_a, count_b (only what was computed); text output is lines
`fd V`, `kid MEAN STD`, `precision P`, `recall R`.
Then evaluate's `fd` section and the report's data grid through `dsx run` (tools/metrics/evaluate_fd_checks.py).
Prints `PASS NN name` / `FAIL NN name: why` per check and `N passed, M failed`; exit status 0 iff M == 0.
"""

import os
import sys


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "export"))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree from the imports below (and reference_metrics)
from system_python import CheckFailed, CheckRunner, expect, find_dsx, reexec_with_system_python  # noqa: E402

reexec_with_system_python()

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
import zlib  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference_metrics as ref  # noqa: E402
from evaluate_fd_checks import check_evaluate_fd  # noqa: E402

# One thread, as dsx runs LibTorch: the stand-in's float32 convolutions depend on the thread count and on
# the batch split, so the references run in dsx's batches too.
torch.set_num_threads(1)
REPO = os.path.dirname(os.path.dirname(HERE))
STANDIN_SCRIPT = os.path.join(REPO, "tools", "export", "inception_standin.py")
NPZ_FIXTURES = os.path.join(REPO, "tests", "data", "npz")
IMAGE_SHAPE = (1, 32, 32)
N_A, N_B, N_A_SMALL = 300, 300, 200
BATCH = 64                       # passed to dsx as --batch; the references use the same split
FEATURE_DIM = 16
ALL_ROWS = 1000                  # a --kid-subset-size ≥ every N here: the one subset is a permutation
FD_TOL = (1e-6, 1e-9)            # (relative, absolute)
KID_TOL = (1e-5, 1e-7)
# The stand-in's 2048 features span ≤ 32 dimensions: FD's √ of the rank-deficient covariances depends on
# which round-off eigenvalues each LAPACK zeroes. Perturbing the float32 features by one ulp moves FD by
# ~1e-8 relative; 1e-5 leaves room for LibTorch's and numpy's eigensolvers to differ.
INCEPTION_FD_TOL = (1e-5, 1e-9)
STATS_TOL = 1e-6                 # saved mu/sigma: relative to the largest entry
TEXT_TOL = (1e-5, 1e-7)          # text output may print ~6 significant digits
KID_RANDOM_SE = 5.0              # random subsets: |mean − expectation| ≤ 5 standard errors
KID_STD_RATIO = 1.3              # random subsets: dsx's and our std of 400 draws within this factor


# =========================================================================================================
# Test data
# =========================================================================================================

def wave_images(n, seed, max_freq):
    """n grey images [n, 1, 32, 32] in (−1, 1): tanh of three random plane waves (frequency 1..max_freq
    cycles per image) plus a little noise. Different max_freq gives different feature distributions."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:IMAGE_SHAPE[1], 0:IMAGE_SHAPE[2]] / float(IMAGE_SHAPE[1])
    out = np.empty((n,) + IMAGE_SHAPE, dtype=np.float32)
    for i in range(n):
        amp, angle = rng.normal(size=3), rng.uniform(0, 2 * np.pi, size=3)
        freq, phase = rng.uniform(1, max_freq, size=3), rng.uniform(0, 2 * np.pi, size=3)
        z = sum(amp[j] * np.sin(2 * np.pi * freq[j] * (xx * np.cos(angle[j]) + yy * np.sin(angle[j])) + phase[j])
                for j in range(3))
        out[i, 0] = np.tanh(z + 0.1 * rng.normal(size=z.shape))
    return out


def write_samples_h5(path, x):
    with h5py.File(path, "w") as f:
        f.create_dataset("samples", data=np.asarray(x, dtype=np.float32))
    return path


def quantise_edm(x):
    """EDM's image conversion, as dsx applies it: (x·127.5 + 128).clamp(0, 255) cast to uint8, which
    truncates toward zero (so it rounds x·127.5 + 127.5 to nearest)."""
    return (torch.as_tensor(x, dtype=torch.float32) * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def dequantise(u8):
    """dsx's PNG reading: uint8 / 127.5 − 1 in float32."""
    return torch.as_tensor(u8).to(torch.float32) / 127.5 - 1


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png_grey(path, image):
    """An 8-bit greyscale PNG of a [H, W] uint8 array: filter type 0 on every row, one zlib IDAT."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = image.shape
    raw = b"".join(b"\x00" + image[r].tobytes() for r in range(h))
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)  # bit depth 8, colour type 0 (grey), no interlace
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(raw, 9)) +
                png_chunk(b"IEND", b""))


def read_png_grey(path):
    """Decoder of 8-bit grey, non-interlaced PNGs (write_png_grey's and libpng's), for when PIL is absent:
    the five row filters of the PNG specification undone row by row."""
    data = open(path, "rb").read()
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    rows = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, w + 1).astype(np.int64)
    out = np.zeros((h, w), dtype=np.int64)
    for y in range(h):
        kind, line, up = rows[y, 0], rows[y, 1:], out[y - 1] if y else np.zeros(w, dtype=np.int64)
        if kind in (0, 2):  # None, Up: no dependence along the row
            out[y] = (line + (up if kind == 2 else 0)) % 256
            continue
        for x in range(w):
            a, b, c = (out[y, x - 1] if x else 0), up[x], (up[x - 1] if x else 0)
            if kind == 1:
                pred = a
            elif kind == 3:
                pred = (a + b) // 2
            else:  # Paeth
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out[y, x] = (line[x] + pred) % 256
    return out.astype(np.uint8)


def write_png_folder(folder, u8):
    """u8: [N, 1, H, W] uint8 -> folder/img_0000.png ...; zero-padded names keep name order = index order."""
    os.makedirs(folder, exist_ok=True)
    for i in range(u8.shape[0]):
        write_png_grey(os.path.join(folder, "img_{:04d}.png".format(i)), np.asarray(u8[i, 0]))
    return folder


class FeatureNet(nn.Module):
    """Fixed random features [N, 16] of [N, 1, H, W] images: the spatial energies of two seeded 3×3
    convolutions (energies tell the two test distributions' frequencies apart), standardised over a
    calibration set so that features are O(1) — the scale KID's kernel (x·y/n + 1)³ is meant for, and one
    that puts FD and KID far above the absolute tolerances — then a seeded linear mix.
    Computes in float64 and returns float32: the float32 rounding of a float64 result hides reduction-order
    differences (batch split, threads), so dsx's features and the reference's are the same numbers and the
    tolerances test the metrics, not LibTorch."""

    def __init__(self, calibration):
        super().__init__()
        torch.manual_seed(1)
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, FEATURE_DIM, kernel_size=3, stride=2, padding=1)
        self.head = nn.Linear(FEATURE_DIM, FEATURE_DIM)
        self.double()
        with torch.no_grad():
            e = self.energy(torch.as_tensor(calibration))
        self.register_buffer("offset", e.mean(dim=0))
        self.register_buffer("scale", e.std(dim=0))

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.conv1(x.to(torch.float64)))
        h = torch.tanh(self.conv2(h))
        return (h * h).mean(dim=[2, 3])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head((self.energy(x) - self.offset) / self.scale).to(torch.float32)


def export_feature_net(path):
    net = FeatureNet(wave_images(300, 0, 3.0)).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    torch.jit.script(net).save(path)
    return path


def export_inception_standin(path):
    """Through the exporter's command line, as a user would make it."""
    r = subprocess.run([sys.executable, STANDIN_SCRIPT, "--out", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    if r.returncode != 0:
        raise CheckFailed("inception_standin.py failed: " + (r.stderr or r.stdout).strip()[-300:])
    return path


def batched(fn, x, batch):
    with torch.no_grad():
        return torch.cat([fn(x[i:i + batch]) for i in range(0, x.shape[0], batch)]).numpy()


def features_of(module, x, batch=BATCH):
    """--features: forward(x float32 [N, C, H, W] in [−1, 1]) -> [N, F]."""
    return batched(lambda b: module(b), torch.as_tensor(x, dtype=torch.float32), batch)


def inception_features_of(module, x, batch=BATCH, to_uint8=quantise_edm):
    """--inception: EDM's uint8 conversion, grey repeated to RGB, forward(img, return_features=True)."""
    def call(b):
        img = to_uint8(b)
        if img.shape[1] == 1:
            img = img.repeat(1, 3, 1, 1)
        return module(img, True)
    return batched(call, torch.as_tensor(x, dtype=torch.float32), batch)


def build_fixtures(work):
    """Writes every input file into `work` and computes the reference features of each image set."""
    d = types.SimpleNamespace(work=work)
    a, b, a_small = wave_images(N_A, 10, 3.0), wave_images(N_B, 20, 6.0), wave_images(N_A_SMALL, 30, 3.0)
    d.a_h5 = write_samples_h5(os.path.join(work, "A.h5"), a)
    d.b_h5 = write_samples_h5(os.path.join(work, "B.h5"), b)
    d.a_small_h5 = write_samples_h5(os.path.join(work, "A200.h5"), a_small)
    d.a_images, d.b_images = a, b

    d.features_pt = export_feature_net(os.path.join(work, "features.pt"))
    net = d.net = torch.jit.load(d.features_pt)
    d.fa, d.fb, d.fa_small = features_of(net, a), features_of(net, b), features_of(net, a_small)

    b_u8 = quantise_edm(b)
    d.b_png = write_png_folder(os.path.join(work, "B_png"), b_u8)
    d.fb_png = features_of(net, dequantise(b_u8))
    return d


# =========================================================================================================
# Check helpers
# =========================================================================================================

def expect_close(got, want, tol, what):
    """|got − want| ≤ rel·|want| + abs, tol = (rel, abs)."""
    rel, abs_ = tol
    expect(got is not None, "{}: missing (want {!r})".format(what, want))
    expect(isinstance(got, (int, float)) and math.isfinite(got), "{}: not a finite number: {!r}".format(what, got))
    err = abs(got - want)
    expect(err <= rel * abs(want) + abs_, "{}: dsx {!r} vs reference {!r} (|Δ| {:.3g}, relative {:.3g}; "
           "tolerance rel {:g} abs {:g})".format(what, got, want, err, err / max(abs(want), 1e-300), rel, abs_))


def expect_exact(got, want, what, hint=""):
    expect(got == want, "{}: dsx {!r} vs reference {!r}{}".format(what, got, want, hint))


def last_words(r):
    lines = [l for l in (r.stderr + r.stdout).splitlines() if l.strip()]
    return lines[-1].strip()[:400] if lines else "no output"


class Dsx:
    """Runs `dsx fid` in the work directory (its cache there too, out of the user's)."""

    def __init__(self, binary, workdir):
        self.binary, self.workdir = binary, workdir
        self.env = dict(os.environ, DSX_CACHE_DIR=os.path.join(workdir, "dsx-cache"))

    def run(self, args):
        expect(self.binary is not None, "no dsx binary (pass --dsx PATH)")
        return subprocess.run([self.binary, "fid"] + [str(a) for a in args], cwd=self.workdir, env=self.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=600)

    def succeed(self, args):
        r = self.run(args)
        expect(r.returncode == 0, "dsx fid {} exited {}: {}".format(" ".join(map(os.path.basename, args[:2])),
                                                                  r.returncode, last_words(r)))
        return r

    def json(self, args):
        """The one JSON object of `dsx fid ... --json` (other stdout lines, if any, are skipped)."""
        r = self.succeed(list(args) + ["--json"])
        try:
            return json.loads(r.stdout)
        except ValueError:
            for line in reversed(r.stdout.splitlines()):
                if line.strip().startswith("{"):
                    return json.loads(line)
        raise CheckFailed("no JSON object in dsx's output: {!r}".format(r.stdout[-300:]))

    def text(self, args):
        """{key: [numbers]} from the `fd V` / `kid MEAN STD` / `precision P` / `recall R` lines."""
        out = {}
        for line in self.succeed(args).stdout.splitlines():
            words = line.split()
            if words and words[0] in ("fd", "kid", "precision", "recall"):
                out[words[0]] = [float(w) for w in words[1:]]
        return out

    def refuse(self, args, names):
        """dsx must exit with an error status (not a signal) and say which file is wrong on stderr."""
        r = self.run(args)
        expect(r.returncode > 0, "expected an error exit, got status {} (stdout {!r})".format(
            r.returncode, r.stdout.strip()[-200:]))
        expect(r.stderr.strip(), "exited {} with nothing on stderr".format(r.returncode))
        expect(any(n in r.stderr for n in names), "stderr does not name {}: {!r}".format(
            " or ".join(names), r.stderr.strip()[-300:]))


def features_args(d):
    return ["--features", d.features_pt, "--batch", BATCH]


def exact_kid(fx, fy):
    """One subset of all rows of each set (Na = Nb): the deterministic KID the --kid-subsets 1 runs give."""
    assert fx.shape[0] == fy.shape[0]
    return ref.kid(fx, fy, [(np.arange(fx.shape[0]), np.arange(fy.shape[0]))])


def expect_pr(got, fa, fb, k, what):
    want_p, want_r = ref.precision_recall(fa, fb, k)
    hint = " (nearest decision boundary at relative {:.2g})".format(ref.boundary_margin(fa, fb, k))
    expect_exact(got.get("precision"), want_p, what + " precision", hint)
    expect_exact(got.get("recall"), want_r, what + " recall", hint)


# =========================================================================================================
# Checks through dsx
# =========================================================================================================

def check_features(run, dsx, d):
    """A vs B with --features: every metric at once, one deterministic KID subset."""
    cache = {}

    def result():
        if "r" not in cache:
            cache["r"] = dsx.json([d.a_h5, d.b_h5] + features_args(d) +
                                  ["--kid", "--pr", "--kid-subsets", 1, "--kid-subset-size", ALL_ROWS])
        return cache["r"]

    def fd():
        expect_close(result().get("fd"), ref.frechet_distance_of_features(d.fa, d.fb), FD_TOL, "fd")

    def kid():
        mean, std = exact_kid(d.fa, d.fb)
        expect_close(result().get("kid_mean"), mean, KID_TOL, "kid_mean")
        expect_close(result().get("kid_std"), std, KID_TOL, "kid_std (one subset)")

    def pr():
        expect_pr(result(), d.fa, d.fb, 3, "k=3")

    def counts():
        expect_exact(result().get("count_a"), N_A, "count_a")
        expect_exact(result().get("count_b"), N_B, "count_b")

    run("features.fd", fd)
    run("features.kid_one_subset", kid)
    run("features.precision_recall", pr)
    run("features.counts", counts)


def check_defaults_and_output(run, dsx, d):
    def defaults():
        # Default subsets (StyleGAN3: 100 of ≤ 1000 rows) cover all 300 rows, so every subset is a permutation:
        # the mean is the exact value and the spread is round-off. Default --pr-k is 3.
        r = dsx.json([d.a_h5, d.b_h5] + features_args(d) + ["--kid", "--pr"])
        mean, _ = exact_kid(d.fa, d.fb)
        expect_close(r.get("kid_mean"), mean, KID_TOL, "kid_mean")
        expect_close(r.get("kid_std"), 0.0, KID_TOL, "kid_std (identical subsets)")
        expect_pr(r, d.fa, d.fb, 3, "default k")
    run("defaults.kid_subsets_and_pr_k", defaults)

    def text():
        r = dsx.text([d.a_h5, d.b_h5] + features_args(d) +
                     ["--kid", "--pr", "--pr-k", 5, "--kid-subsets", 1, "--kid-subset-size", ALL_ROWS])
        expect(sorted(r) == ["fd", "kid", "precision", "recall"], "metric lines: {}".format(sorted(r)))
        expect(len(r["fd"]) == 1 and len(r["kid"]) == 2 and len(r["precision"]) == 1 and len(r["recall"]) == 1,
               "expected `fd V`, `kid MEAN STD`, `precision P`, `recall R`, got {}".format(r))
        mean, std = exact_kid(d.fa, d.fb)
        expect_close(r["fd"][0], ref.frechet_distance_of_features(d.fa, d.fb), TEXT_TOL, "fd")
        expect_close(r["kid"][0], mean, TEXT_TOL, "kid mean")
        expect_close(r["kid"][1], std, TEXT_TOL, "kid std")
        want_p, want_r = ref.precision_recall(d.fa, d.fb, 5)
        expect_close(r["precision"][0], want_p, TEXT_TOL, "precision (k=5)")
        expect_close(r["recall"][0], want_r, TEXT_TOL, "recall (k=5)")
    run("output.text_lines_pr_k5", text)

    def only_requested():
        r = dsx.text([d.a_h5, d.b_h5] + features_args(d))
        expect(sorted(r) == ["fd"], "without --kid/--pr only `fd` expected, got {}".format(sorted(r)))
        j = dsx.json([d.a_h5, d.b_h5] + features_args(d))
        extra = sorted(set(j) & {"kid_mean", "kid_std", "precision", "recall"})
        expect(not extra, "JSON has keys that were not requested: {}".format(extra))
        expect("fd" in j, "JSON without fd: {}".format(sorted(j)))
    run("output.only_requested_metrics", only_requested)


def check_unequal_sizes(run, dsx, d):
    """Na = 200 ≠ Nb = 300: FD and P/R are deterministic; KID subsets are random (m = 100 rows each)."""
    subsets, size = 400, 100
    cache = {}

    def result():
        if "r" not in cache:
            cache["r"] = dsx.json([d.a_small_h5, d.b_h5] + features_args(d) +
                                  ["--kid", "--pr", "--kid-subsets", subsets, "--kid-subset-size", size])
        return cache["r"]

    def fd_pr_counts():
        expect_close(result().get("fd"), ref.frechet_distance_of_features(d.fa_small, d.fb), FD_TOL, "fd")
        expect_pr(result(), d.fa_small, d.fb, 3, "k=3")
        expect_exact(result().get("count_a"), N_A_SMALL, "count_a")
        expect_exact(result().get("count_b"), N_B, "count_b")

    def kid_statistics():
        # dsx's mean over random subsets estimates kid_expected (exact, no draws) with standard error
        # kid_std/√S. The spread depends on m (≈ 1/m here: m = 50, 100, 200 give 0.34, 0.21, 0.10), so it is
        # compared with our own S draws of m rows: the std of a 400-draw std is ≈ 5%, KID_STD_RATIO is ≈ 4σ.
        got_mean, got_std = result().get("kid_mean"), result().get("kid_std")
        expect(isinstance(got_mean, float) and isinstance(got_std, float), "kid_mean/kid_std missing")
        want_mean = ref.kid_expected(d.fa_small, d.fb)
        _, want_std = ref.kid(d.fa_small, d.fb, ref.kid_subsets(N_A_SMALL, N_B, subsets, size,
                                                                 np.random.default_rng(0)))
        se = max(got_std, want_std) / math.sqrt(subsets)
        expect(abs(got_mean - want_mean) <= KID_RANDOM_SE * se, "kid_mean {:.6g} vs expectation {:.6g}: {:.1f} "
               "standard errors apart".format(got_mean, want_mean, abs(got_mean - want_mean) / max(se, 1e-300)))
        expect(want_std / KID_STD_RATIO <= got_std <= want_std * KID_STD_RATIO,
               "kid_std {:.4g} vs reference {:.4g} for m = {} (a ratio above {})".format(
                   got_std, want_std, size, KID_STD_RATIO))

    run("unequal_sizes.fd_pr_counts", fd_pr_counts)
    run("unequal_sizes.kid_random_subsets", kid_statistics)


def check_inception(run, dsx, d):
    cache = {}

    def standin():
        if "path" not in cache:
            cache["path"] = export_inception_standin(os.path.join(d.work, "inception_standin.pt"))
        return cache["path"]

    def contract():
        m = torch.jit.load(standin())
        img = quantise_edm(d.a_images[:4]).repeat(1, 3, 1, 1)
        with torch.no_grad():
            feats, logits = m(img, True), m(img, False)
        expect(tuple(feats.shape) == (4, 2048) and feats.dtype == torch.float32, "features {} {}".format(
            list(feats.shape), feats.dtype))
        expect(tuple(logits.shape) == (4, 1008), "logits {}".format(list(logits.shape)))
        for bad, what in ((img.float(), "float32 input"), (img[:, :1], "1 channel"), (img[0], "3-D input")):
            try:
                m(bad, True)
            except (RuntimeError, torch.jit.Error):  # a TorchScript raise arrives as torch.jit.Error
                continue
            raise CheckFailed("the stand-in accepted " + what)
    run("inception.standin_contract", contract)

    def fd():
        m = torch.jit.load(standin())
        fa, fb = inception_features_of(m, d.a_images), inception_features_of(m, d.b_images)
        r = dsx.json([d.a_h5, d.b_h5, "--inception", standin(), "--batch", BATCH])
        expect_close(r.get("fd"), ref.frechet_distance_of_features(fa, fb), INCEPTION_FD_TOL, "fd (inception)")
    run("inception.fd_uint8_rgb", fd)


def check_stats_files(run, dsx, d):
    stats = os.path.join(d.work, "stats_B.npz")
    mu_b, sigma_b = ref.gaussian_fit(d.fb)
    want_fd = ref.frechet_distance_of_features(d.fa, d.fb)

    def save_stats():
        # Both operands are B, so --save-stats writes B's statistics whichever operand it saves.
        r = dsx.json([d.b_h5, d.b_h5] + features_args(d) + ["--save-stats", stats])
        expect(abs(r.get("fd", float("nan"))) < 1e-6, "FD of identical inputs: {!r}".format(r.get("fd")))
        expect(os.path.isfile(stats), "no file at " + stats)
        with np.load(stats) as z:
            expect({"mu", "sigma"} <= set(z.files), "keys {} (want mu, sigma)".format(z.files))
            mu, sigma = np.asarray(z["mu"], dtype=np.float64), np.asarray(z["sigma"], dtype=np.float64)
        expect(mu.shape == mu_b.shape and sigma.shape == sigma_b.shape, "shapes {} {}".format(mu.shape, sigma.shape))
        for got, want, what in ((mu, mu_b, "mu"), (sigma, sigma_b, "sigma")):
            err, scale = np.abs(got - want).max(), np.abs(want).max()
            expect(err <= STATS_TOL * scale, "{} differs by {:.3g} (scale {:.3g})".format(what, err, scale))
    run("stats.save_stats", save_stats)

    def fd_against_saved():
        expect(os.path.isfile(stats), "needs stats.save_stats's file")
        r = dsx.json([d.a_h5, stats] + features_args(d))
        expect_close(r.get("fd"), want_fd, FD_TOL, "fd (A vs saved B statistics)")
    run("stats.fd_against_saved", fd_against_saved)

    def numpy_written():
        for writer, name, dtype in ((np.savez, "numpy_savez.npz", np.float64),
                                    (np.savez_compressed, "numpy_savez_compressed.npz", np.float32)):
            path = os.path.join(d.work, name)
            mu, sigma = mu_b.astype(dtype), sigma_b.astype(dtype)
            writer(path, mu=mu, sigma=sigma)
            r = dsx.json([d.a_h5, path] + features_args(d))
            expect_close(r.get("fd"), ref.frechet_distance(*ref.gaussian_fit(d.fa), mu, sigma), FD_TOL,
                         "fd against " + name)
    run("stats.numpy_savez_and_compressed", numpy_written)

    def fixtures():
        # tests/data/npz: the same statistics as float64 (stored) and float32 (deflated); exactly
        # representable, so FD is 0. Both operands are statistics files: no features are needed.
        stored = os.path.join(NPZ_FIXTURES, "stats_stored.npz")
        deflate = os.path.join(NPZ_FIXTURES, "stats_deflate.npz")
        expect(os.path.isfile(stored) and os.path.isfile(deflate), "missing fixtures in " + NPZ_FIXTURES)
        r = dsx.json([stored, deflate])
        expect_close(r.get("fd"), 0.0, FD_TOL, "fd between the two fixtures")
    run("stats.repo_fixtures_npz_vs_npz", fixtures)


def check_png_folder(run, dsx, d):
    def fd():
        r = dsx.json([d.a_h5, d.b_png] + features_args(d))
        expect_close(r.get("fd"), ref.frechet_distance_of_features(d.fa, d.fb_png), FD_TOL, "fd (A vs B_png)")
        expect_exact(r.get("count_b"), N_B, "count_b (PNG files)")
    run("png_folder.fd_of_quantised_images", fd)


def check_identical(run, dsx, d):
    def same():
        r = dsx.json([d.a_h5, d.a_h5] + features_args(d) +
                     ["--kid", "--pr", "--kid-subsets", 1, "--kid-subset-size", ALL_ROWS])
        expect(abs(r.get("fd", float("nan"))) < 1e-6, "FD of identical inputs: {!r}".format(r.get("fd")))
        mean, _ = exact_kid(d.fa, d.fa)  # the unbiased estimate is not 0 on one identical pair of sets
        expect_close(r.get("kid_mean"), mean, KID_TOL, "kid_mean")
        expect_exact(r.get("precision"), 1.0, "precision")
        expect_exact(r.get("recall"), 1.0, "recall")
    run("identical.fd_zero_pr_one", same)


def check_bad_inputs(run, dsx, d):
    no_sigma = os.path.join(d.work, "no_sigma.npz")
    np.savez(no_sigma, mu=np.zeros(FEATURE_DIM))
    no_pngs = os.path.join(d.work, "no_pngs")
    os.makedirs(no_pngs, exist_ok=True)
    with open(os.path.join(no_pngs, "notes.txt"), "w") as f:
        f.write("not an image\n")
    stats = os.path.join(d.work, "numpy_savez.npz")
    if not os.path.isfile(stats):
        np.savez(stats, mu=ref.gaussian_fit(d.fb)[0], sigma=ref.gaussian_fit(d.fb)[1])

    run("bad.npz_without_sigma", lambda: dsx.refuse([d.a_h5, no_sigma] + features_args(d), ["no_sigma.npz"]))
    run("bad.folder_without_pngs", lambda: dsx.refuse([d.a_h5, no_pngs] + features_args(d), ["no_pngs"]))
    run("bad.kid_with_npz", lambda: dsx.refuse([d.a_h5, stats] + features_args(d) + ["--kid"],
                                               ["numpy_savez.npz"]))


# =========================================================================================================
# Self-test of the references (no dsx)
# =========================================================================================================

def random_spd(rng, dim, scale=1.0):
    q = rng.normal(size=(dim, dim))
    return scale * (q @ q.T / dim + 0.1 * np.eye(dim))


def self_tests(run, work):
    rng = np.random.default_rng(123)

    def fd_commuting():
        la, lb = np.array([1.0, 4.0, 0.25, 9.0]), np.array([2.0, 1.0, 1.0, 16.0])
        mu_a, mu_b = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0, 3.0])
        want = np.square(mu_a - mu_b).sum() + np.square(np.sqrt(la) - np.sqrt(lb)).sum()
        q, _ = np.linalg.qr(rng.normal(size=(4, 4)))  # rotate both: Σa, Σb still commute
        got = ref.frechet_distance(q @ mu_a, q @ np.diag(la) @ q.T, q @ mu_b, q @ np.diag(lb) @ q.T)
        expect(abs(got - want) <= 1e-12 * want, "{} vs closed form {}".format(got, want))
        one_d = ref.frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]])  # (μ1−μ2)² + (σ1−σ2)² = 9 + 1
        expect(abs(one_d - 10.0) < 1e-12, "1-D: {}".format(one_d))
    run("fd.closed_form_commuting", fd_commuting)

    def fd_general():
        # tr((Σa^½ Σb Σa^½)^½) = Σ √eig(Σa Σb): the eigenvalues of the non-symmetric product are real, ≥ 0.
        sa, sb = random_spd(rng, 6), random_spd(rng, 6, 3.0)
        want = np.sqrt(np.linalg.eigvals(sa @ sb).real).sum()
        got = ref.trace_sqrt_product(sa, sb)
        expect(abs(got - want) <= 1e-10 * want, "{} vs {}".format(got, want))
    run("fd.trace_sqrt_vs_eigvals_of_product", fd_general)

    def fd_samples():
        dim, n = 4, 200000
        mu_a, mu_b = np.zeros(dim), np.array([0.5, 0.0, -0.5, 1.0])
        sa, sb = random_spd(rng, dim), random_spd(rng, dim, 2.0)
        xa = rng.multivariate_normal(mu_a, sa, size=n)
        xb = rng.multivariate_normal(mu_b, sb, size=n)
        want = ref.frechet_distance(mu_a, sa, mu_b, sb)
        got = ref.frechet_distance_of_features(xa, xb)
        expect(abs(got - want) <= 0.03 * want, "sample FD {} vs closed form {}".format(got, want))
    run("fd.gaussian_samples_vs_closed_form", fd_samples)

    def fd_rank_deficient():
        # N = 20 ≤ F = 64: singular covariances, where uncleaned √(round-off) would add up.
        x = rng.normal(size=(20, 64)) * rng.uniform(0.1, 3.0, size=64)
        shift = rng.normal(size=64)
        scale = np.trace(ref.gaussian_fit(x)[1])
        expect(abs(ref.frechet_distance_of_features(x, x)) <= 1e-10 * scale, "FD(X, X) != 0")
        got = ref.frechet_distance_of_features(x, x + shift)
        expect(abs(got - shift @ shift) <= 1e-10 * scale, "FD(X, X + c) = {} != |c|² = {}".format(got, shift @ shift))
        y = rng.normal(size=(15, 64))
        q, _ = np.linalg.qr(rng.normal(size=(64, 64)))
        a, b = ref.frechet_distance_of_features(x, y), ref.frechet_distance_of_features(x @ q, y @ q)
        expect(abs(a - b) <= 1e-9 * a, "not rotation invariant: {} vs {}".format(a, b))
    run("fd.rank_deficient", fd_rank_deficient)

    def kid_formula():
        m, n = 12, 5
        x, y = rng.normal(size=(m, n)), rng.normal(size=(m, n)) + 0.3
        k = lambda u, v: (u @ v / n + 1.0) ** 3  # noqa: E731
        same = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        cross = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) * 2 / (m * m)
        got = ref.kid_subset_value(x, y)
        expect(abs(got - (same - cross)) <= 1e-12 * abs(same), "{} vs unbiased MMD² {}".format(got, same - cross))
        perm = ref.kid(x, y, [(rng.permutation(m), rng.permutation(m))])[0]
        expect(abs(perm - got) <= 1e-12 * abs(same), "not permutation invariant: {} vs {}".format(perm, got))
    run("kid.unbiased_mmd2_and_permutation", kid_formula)

    def kid_zero_mean():
        # Unbiasedness: over fresh pairs of samples of one distribution the values average to 0; another
        # distribution gives a mean many standard errors above 0.
        def values(offset):
            return np.array([ref.kid_subset_value(rng.normal(size=(50, 8)), rng.normal(size=(50, 8)) + offset)
                             for _ in range(400)])
        same, other = values(0.0), values(0.5)
        se_same, se_other = same.std() / np.sqrt(same.size), other.std() / np.sqrt(other.size)
        expect(abs(same.mean()) <= 4 * se_same, "same distribution: mean {:.3g} ± {:.3g}".format(same.mean(), se_same))
        expect(other.mean() >= 10 * se_other, "shifted: mean {:.3g} ± {:.3g}".format(other.mean(), se_other))
        print("  kid same distribution {:.2e} ± {:.1e}, shifted {:.2e} ± {:.1e}".format(
            same.mean(), se_same, other.mean(), se_other))
    run("kid.same_distribution_zero_on_average", kid_zero_mean)

    def kid_expectation():
        x, y = rng.normal(size=(40, 6)), rng.normal(size=(60, 6)) + 0.2
        values = [ref.kid(x, y, ref.kid_subsets(40, 60, 1, 15, rng))[0] for _ in range(4000)]
        mean, se = np.mean(values), np.std(values) / np.sqrt(len(values))
        want = ref.kid_expected(x, y)
        expect(abs(mean - want) <= 4 * se, "mean of random subsets {:.5g} ± {:.2g} vs expectation {:.5g}".format(
            mean, se, want))
    run("kid.random_subsets_average_to_expectation", kid_expectation)

    def kid_draws():
        draws = ref.kid_subsets(200, 300, 5, 1000, np.random.default_rng(0))
        expect(all(len(ix) == 200 and len(iy) == 200 for ix, iy in draws), "m != min(200, 300, 1000)")
        expect(all(len(set(ix)) == 200 and len(set(iy)) == 200 for ix, iy in draws), "drawn with replacement")
        expect(len(ref.kid_subsets(200, 300, 1, 50, np.random.default_rng(0))[0][0]) == 50, "m != subset size")
    run("kid.subset_draws", kid_draws)

    def pr_hand():
        # 1-D, k = 1. B = {0, 1, 2, 3, 10}: radii 1, 1, 1, 1, 7. A = {0.5, 3.9, 17, 17.5, −1.5}: radii 2, 2,
        # 3.4, 0.5, 0.5. Precision: 0.5 (ball of 0), 3.9 (of 3), 17 (of 10, on the boundary: ≤) = 3/5;
        # recall: 0, 1, 2 (ball of 0.5), 3 (of 3.9); 10 is 6.1 from 3.9 and 7 from 17 = 4/5.
        b = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
        a = np.array([[0.5], [3.9], [17.0], [17.5], [-1.5]])
        p, r = ref.precision_recall(a, b, 1)
        expect((p, r) == (0.6, 0.8), "precision, recall = {}, {} (want 0.6, 0.8)".format(p, r))
        # A duplicate is a neighbour at distance 0: radius(0) = 0 in {0, 0, 5}, and 0 ≤ 0 counts.
        radii = ref.knn_radii(np.array([[0.0], [0.0], [5.0]]), 1)
        expect(list(radii) == [0.0, 0.0, 5.0], "radii with a duplicate: {}".format(list(radii)))
    run("pr.hand_computed_1d", pr_hand)

    def pr_support():
        # Two far-apart clusters of real points; the generated points are the first cluster itself (mode
        # dropping): each lies at distance 0 from its copy in B, so precision is exactly 1; the first
        # cluster's real points are covered and the second's are not, so recall is exactly 1/2.
        b = np.concatenate([rng.normal(size=(150, 16)), rng.normal(size=(150, 16)) + 20.0])
        a = b[:150].copy()
        p, r = ref.precision_recall(a, b, 3)
        expect((p, r) == (1.0, 0.5), "A = one of B's two clusters: precision {}, recall {}".format(p, r))
        p, r = ref.precision_recall(a + 100.0, b, 3)
        expect((p, r) == (0.0, 0.0), "disjoint supports: {}, {}".format(p, r))
    run("pr.support_cases", pr_support)

    def png_roundtrip():
        img = np.random.default_rng(5).integers(0, 256, size=(7, 11), dtype=np.uint8)
        path = os.path.join(work, "roundtrip.png")
        write_png_grey(path, img)
        try:
            from PIL import Image
            with Image.open(path) as im:
                expect(im.mode == "L", "PIL mode " + im.mode)
                back, by = np.asarray(im), "PIL"
        except ImportError:
            back, by = read_png_grey(path), "own reader (no PIL)"
        expect(back.shape == img.shape and (back == img).all(), "PNG round trip differs ({})".format(by))
    run("png.writer_roundtrip", png_roundtrip)

    def quantisation():
        x = torch.tensor([-1.0, 1.0, 0.0, -2.0, 2.0, 127.4 / 127.5 - 1, 127.6 / 127.5 - 1])
        got = quantise_edm(x).tolist()
        # x·127.5 + 128: 0.5 -> 0, 255.5 -> 255, 128, clamped 0 and 255, 127.9 -> 127, 128.1 -> 128
        expect(got == [0, 255, 128, 0, 255, 127, 128], "quantised {}".format(got))
        u8 = torch.arange(256, dtype=torch.uint8)
        expect(bool((quantise_edm(dequantise(u8)) == u8).all()), "PNG values do not survive dsx's conversion")
    run("uint8.edm_conversion", quantisation)

    def feature_net():
        net = torch.jit.load(export_feature_net(os.path.join(work, "features.pt")))
        x = wave_images(130, 1, 3.0)
        whole, split = features_of(net, x, batch=130), features_of(net, x, batch=BATCH)
        expect(whole.shape == (130, FEATURE_DIM) and whole.dtype == np.float32,
               "{} {}".format(whole.shape, whole.dtype))
        expect((whole == split).all(), "features depend on the batch split")
    run("features_net.batch_independent", feature_net)

    def inception_sensitivity():
        # The inception check must tell EDM's conversion from near misses: rounding (x·127.5 + 128.5 cast)
        # and the common +127.5 offset move FD far beyond INCEPTION_FD_TOL.
        m = torch.jit.load(export_inception_standin(os.path.join(work, "inception_standin.pt")))
        a, b = wave_images(100, 2, 3.0), wave_images(100, 3, 6.0)
        fd = lambda conv: ref.frechet_distance_of_features(  # noqa: E731
            inception_features_of(m, a, to_uint8=conv), inception_features_of(m, b, to_uint8=conv))
        base = fd(quantise_edm)
        for name, conv in (("x·127.5+127.5", lambda x: (x * 127.5 + 127.5).clamp(0, 255).to(torch.uint8)),
                           ("round", lambda x: (x * 127.5 + 128).round().clamp(0, 255).to(torch.uint8))):
            rel = abs(fd(conv) - base) / base
            expect(rel > 100 * INCEPTION_FD_TOL[0], "{} changes FD by only {:.2g}".format(name, rel))
            print("  inception FD with {}: relative change {:.2g}".format(name, rel))
    run("inception.reference_sensitive_to_conversion", inception_sensitivity)


# =========================================================================================================

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dsx", metavar="PATH", help="the dsx binary (default: build/bin/dsx, else dsx on PATH)")
    p.add_argument("--keep", metavar="DIR", help="write the inputs and outputs here and keep them (default: a "
                                                  "temporary directory, removed afterwards)")
    p.add_argument("--self-test", action="store_true", help="test the numpy references only (no dsx)")
    a = p.parse_args()
    run = CheckRunner(numbered=True)

    start = time.time()
    work = os.path.abspath(a.keep) if a.keep else tempfile.mkdtemp(prefix="dsx-metrics-check-")
    os.makedirs(work, exist_ok=True)
    try:
        if a.self_test:
            self_tests(run, work)
        else:
            binary = find_dsx(a.dsx, REPO)
            if binary is None or not os.access(binary, os.X_OK):
                print("note: no dsx binary at {}; every dsx check will fail".format(a.dsx or "build/bin/dsx"))
                binary = None
            dsx = Dsx(binary, work)
            d = build_fixtures(work)
            check_features(run, dsx, d)
            check_defaults_and_output(run, dsx, d)
            check_unequal_sizes(run, dsx, d)
            check_inception(run, dsx, d)
            check_stats_files(run, dsx, d)
            check_png_folder(run, dsx, d)
            check_identical(run, dsx, d)
            check_bad_inputs(run, dsx, d)
            check_evaluate_fd(run, binary, d, lambda x: features_of(d.net, x), quantise_edm, read_png_grey)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    run.finish("check_metrics", start)


if __name__ == "__main__":
    main()
