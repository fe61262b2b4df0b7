#!/usr/bin/env python3
"""Writes the reference-statistics fixtures of tests/data/npz/ (mu [3], sigma [3, 3]) for dsx's npz reader.

  /usr/bin/python3 tools/metrics/make_npz_fixtures.py --out tests/data/npz

Two files with the same statistics, one per way numpy writes an .npz, because dsx must read both:
  stats_stored.npz   np.savez: zip entries stored uncompressed, float64 arrays
  stats_deflate.npz  np.savez_compressed: deflated zip entries, float32 arrays
sigma is symmetric positive definite (eigenvalues ≈ 0.769, 2.196, 3.035), as a covariance must be.
"""

import argparse
import os

import numpy as np

MU = [0.5, -1.0, 2.0]
SIGMA = [[2.0, 0.5, 0.0],
         [0.5, 1.0, 0.25],
         [0.0, 0.25, 3.0]]


def write_fixtures(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    mu, sigma = np.array(MU, dtype=np.float64), np.array(SIGMA, dtype=np.float64)
    assert np.all(np.linalg.eigvalsh(sigma) > 0), "sigma must be SPD"
    stored = os.path.join(out_dir, "stats_stored.npz")
    deflate = os.path.join(out_dir, "stats_deflate.npz")
    np.savez(stored, mu=mu, sigma=sigma)
    np.savez_compressed(deflate, mu=mu.astype(np.float32), sigma=sigma.astype(np.float32))
    return stored, deflate


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, metavar="DIR", help="directory to write the two .npz files into")
    a = p.parse_args()
    for path in write_fixtures(a.out):
        print("wrote {} ({} bytes)".format(path, os.path.getsize(path)))


if __name__ == "__main__":
    main()
