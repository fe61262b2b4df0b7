#!/usr/bin/python3
"""TorchScript call overhead: one convolutional denoiser timed from Python and through dsx, in one run.

    /usr/bin/python3 tools/export/bench_overhead.py --dsx build/bin/dsx [--batch 64] [--width 64] [--calls 20]

Builds a small residual conv net on 3x32x32 (EDM-style preconditioned denoiser, random weights, fixed seed),
saves it with torch.jit.script, times forward() in Python (float32, no grad, one thread, after a warm-up),
then runs `dsx bench model` and `dsx bench solvers --model` on the same file. Prints the ratio
dsx ms/call : Python ms/call, and dsx's solver overhead against the network's own time. A benchmark, not a
test: the numbers go into notes.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import torch


class Block(torch.nn.Module):
    def __init__(self, width):
        super().__init__()
        self.norm = torch.nn.GroupNorm(8, width)
        self.conv1 = torch.nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(width, width, 3, padding=1)

    def forward(self, h):
        return h + self.conv2(torch.nn.functional.silu(self.conv1(torch.nn.functional.silu(self.norm(h)))))


class ConvDenoiser(torch.nn.Module):
    """D(x, sigma) = c_skip x + c_out F(c_in x, c_noise), EDM preconditioning (sigma_data 0.5)."""

    def __init__(self, width, blocks):
        super().__init__()
        self.inp = torch.nn.Conv2d(3, width, 3, padding=1)
        self.emb = torch.nn.Linear(1, width)
        self.blocks = torch.nn.ModuleList([Block(width) for _ in range(blocks)])
        self.out = torch.nn.Conv2d(width, 3, 3, padding=1)
        self.img_shape = [3, 32, 32]

    def forward(self, x, sigma):
        s = sigma.reshape(-1, 1, 1, 1)
        c_skip = 0.25 / (s * s + 0.25)
        c_out = s * 0.5 / torch.sqrt(s * s + 0.25)
        c_in = 1.0 / torch.sqrt(s * s + 0.25)
        h = self.inp(c_in * x) + self.emb(torch.log(sigma).reshape(-1, 1) / 4).reshape(-1, self.inp.out_channels, 1, 1)
        for b in self.blocks:
            h = b(h)
        return c_skip * x + c_out * self.out(h)


def python_ms_per_call(net, batch, calls):
    x = torch.randn(batch, 3, 32, 32)
    sigma = torch.full((batch,), 1.0)
    with torch.no_grad():
        net(x, sigma)
        t0 = time.perf_counter()
        for _ in range(calls):
            net(x, sigma)
    return 1e3 * (time.perf_counter() - t0) / calls


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dsx", required=True)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--calls", type=int, default=20)
    a = ap.parse_args()
    torch.set_num_threads(1)  # dsx keeps LibTorch at one intra-op thread (one level of parallelism)
    torch.manual_seed(0)
    net = torch.jit.script(ConvDenoiser(a.width, a.blocks).eval())
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "conv.pt")
        net.save(path)
        cfg = os.path.join(d, "model.yaml")
        with open(cfg, "w") as f:
            f.write("model: {kind: torchscript, file: conv.pt}\n")
        py_script = python_ms_per_call(torch.jit.load(path), a.batch, a.calls)
        py_eager = python_ms_per_call(ConvDenoiser(a.width, a.blocks).eval(), a.batch, a.calls)
        out = subprocess.run([a.dsx, "bench", "model", cfg, "--batch", str(a.batch), "--calls", str(a.calls)],
                             capture_output=True, text=True, check=True).stdout
        dsx_ms = [float(m) for m in re.findall(r"^\| [0-9.e+-]+ \| ([0-9.]+) \|", out, re.M)]
        print(f"conv denoiser: width {a.width}, {a.blocks} residual blocks, batch {a.batch}, float32, 1 thread\n")
        print("| caller | ms/call |\n|---|---|")
        print(f"| Python, eager module | {py_eager:.2f} |")
        print(f"| Python, the TorchScript file | {py_script:.2f} |")
        print(f"| dsx (C++), the TorchScript file, median over σ | {sorted(dsx_ms)[len(dsx_ms) // 2]:.2f} |")
        print(f"\ndsx : Python (same file) = {sorted(dsx_ms)[len(dsx_ms) // 2] / py_script:.3f}\n")
        solvers = subprocess.run([a.dsx, "bench", "solvers", "--model", cfg, "--batch", str(a.batch), "--nfe", "5",
                                  "10", "--repeats", "1"], capture_output=True, text=True, check=True).stdout
        print(solvers)


if __name__ == "__main__":
    sys.exit(main())
