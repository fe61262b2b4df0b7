#!/usr/bin/python3
"""The plain PyTorch-eager loop that `dsx bench eager` measures dsx against.

The isotropic Gaussian mixture's exact denoiser in the matmul form a PyTorch user would write
(|x − μ|² = |x|² − 2x·μᵀ + |μ|², softmax, one more matmul for Σ_k c_k μ_k) and Euler or EDM's Heun on the
polynomial (ρ = 7) grid, on the mixture file dsx wrote. Prints one JSON line: wall and model ms per sample
(medians over --repeats), model calls, and a checksum of the samples.

  /usr/bin/python3 tools/bench/eager_mixture.py mix.h5 --solver euler --points 11 --batch 256 --threads 1
"""
import argparse
import json
import statistics
import time

import h5py
import torch


class Mixture:
    def __init__(self, path, dtype):
        with h5py.File(path, "r") as f:
            means = torch.from_numpy(f["means"][()])
            self.mu = means.reshape(means.shape[0], -1).to(dtype)
            self.s2 = torch.from_numpy(f["stds"][()]).to(dtype).square()
            w = torch.from_numpy(f["weights"][()]).to(dtype)
            self.log_w = (w / w.sum()).log()
        self.mu_norm = self.mu.square().sum(1)
        self.seconds, self.calls = 0.0, 0

    def __call__(self, x, sigma):
        t0 = time.perf_counter()
        d = x.shape[1]
        v = self.s2 + sigma * sigma  # [K]
        d2 = (x.square().sum(1, keepdim=True) - 2 * x @ self.mu.T + self.mu_norm).clamp_min(0)
        w = torch.softmax(self.log_w - 0.5 * d * torch.log(2 * torch.pi * v) - d2 / (2 * v), dim=1)
        out = (w * self.s2 / v).sum(1, keepdim=True) * x + (w * (sigma * sigma) / v) @ self.mu
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out


def polynomial(points, sigma_min=0.002, sigma_max=80.0, rho=7.0):
    a, b = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    return [(a + i / (points - 1) * (b - a)) ** rho for i in range(points)]


def euler(model, x, sigmas):
    for s, t in zip(sigmas[:-1], sigmas[1:]):
        x = x + (t - s) * (x - model(x, s)) / s
    return x


def heun(model, x, sigmas):
    for s, t in zip(sigmas[:-1], sigmas[1:]):
        d = (x - model(x, s)) / s
        x_euler = x + (t - s) * d
        x = x + (t - s) * 0.5 * (d + (x_euler - model(x_euler, t)) / t)
    return x


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mixture")
    p.add_argument("--solver", choices=["euler", "heun"], default="euler")
    p.add_argument("--points", type=int, default=11)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--precision", choices=["float32", "float64"], default="float32")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dtype = torch.float32 if a.precision == "float32" else torch.float64
    model = Mixture(a.mixture, dtype)
    z = torch.randn(a.batch, model.mu.shape[1], generator=torch.Generator().manual_seed(0), dtype=dtype)
    sigmas = polynomial(a.points)
    step = {"euler": euler, "heun": heun}[a.solver]
    walls, models = [], []
    with torch.no_grad():
        for _ in range(a.repeats + 1):  # the first run warms up
            model.seconds, model.calls = 0.0, 0
            x_T = sigmas[0] * z
            t0 = time.perf_counter()
            x = step(model, x_T, sigmas)
            walls.append(time.perf_counter() - t0)
            models.append(model.seconds)
    per = 1e3 / a.batch
    print(json.dumps({"solver": a.solver, "calls": model.calls, "wall_ms_per_sample": statistics.median(walls[1:]) * per,
                      "model_ms_per_sample": statistics.median(models[1:]) * per, "checksum": float(x.double().sum())}))


if __name__ == "__main__":
    main()
