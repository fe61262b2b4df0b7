#!/usr/bin/env python3
"""Export a UNet trained by dsx (an HDF5 file, format dsx-unet/1) to a TorchScript file for dsx and PyTorch.

  python3 tools/export/export_dsx_unet.py MODEL.h5 OUT.pt [--dtype float32|float64]

The file holds one float32 dataset per parameter, named by its LibTorch module path (map0.weight,
encoder.0.norm0.weight, resample.0.weight, mid.0.qkv.weight, ...), and the root attributes format
("dsx-unet/1"), options (UNetOptions as JSON) and training. DsxUNet below is a line-by-line twin of
framework/nets/unet.cpp with the same parameter names, so the datasets load 1:1; any missing, extra or
misshapen dataset, a wrong format attribute or bad options refuse the file.

The export is scripted (torch.jit.script: batch size, σ and dtype stay free) and has
  forward(x, sigma)  = D(x; σ), EDM form, computed in the parameters' dtype and returned in x's dtype
  features(x, sigma) = (D, the last 8x8 encoder block's output [B, C', 8, 8]), what dsx's `model: {kind:
                       unet}` gives AMED (only when a level has resolution 8)
  img_shape = [C, R, R], sigma_min = 0.002, sigma_max = 80 (the σ range dsx samples a unet model over)
A class-conditional net (num_classes N > 0) takes a third argument class_labels [B, N], one-hot, as
export_edm.py's conditional exports do; its dsx config adds `condition: {num_classes: N}`.
The saved file is reloaded and compared with the eager twin (float64 and float32, batches 3 and 1) before
it is moved into place; tools/export/check_exporters.py (the dsx_unet checks) compares it with dsx's own
`model: {kind: unet}` through `dsx sample`.
"""

import argparse
import copy
import json
import math
import os
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from export_common import (ExportError, Tracee, print_config, run_cli, save_verified, set_attributes,
                           sigma_examples, verify_export, yaml_value)

FORMAT = "dsx-unet/1"
SIGMA_MIN, SIGMA_MAX = 0.002, 80.0  # ModelInfo's defaults: the range dsx samples a unet model over
OPTION_KEYS = ("image_channels", "resolution", "base_channels", "channel_mult", "blocks", "attention_at",
               "num_classes", "sigma_data", "dropout")


def group_norm(channels):
    """EDM's GroupNorm as unet.cpp picks it: up to 32 groups of >= 4 channels, a divisor of the count."""
    g = min(32, max(1, channels // 4))
    while channels % g:
        g -= 1
    return nn.GroupNorm(g, channels, eps=1e-5)


def conv(cin, cout, kernel, stride=1):
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)


# Non-literal ModuleList indices compile only through an interface type; the plans below index by step.
@torch.jit.interface
class _Block(nn.Module):
    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        pass


@torch.jit.interface
class _Conv(nn.Module):
    def forward(self, input: Tensor) -> Tensor:
        pass


class ResBlock(nn.Module):
    """unet.cpp's ResBlockImpl (eval mode: its dropout is the identity)."""

    def __init__(self, cin, cout, emb, attention):
        super().__init__()
        self.norm0, self.conv0 = group_norm(cin), conv(cin, cout, 3)
        self.affine = nn.Linear(emb, cout)
        self.norm1, self.conv1 = group_norm(cout), conv(cout, cout, 3)
        self.skip = conv(cin, cout, 1) if cin != cout else None
        if attention:
            self.norm2, self.qkv, self.proj = group_norm(cout), conv(cout, 3 * cout, 1), conv(cout, cout, 1)
        else:  # TorchScript compiles both branches: the attributes must exist
            self.norm2 = self.qkv = self.proj = None

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv0(F.silu(self.norm0(x)))
        h = F.silu(self.norm1(h + self.affine(emb).unsqueeze(-1).unsqueeze(-1)))
        h = self.conv1(h)
        # kSkipScale, √½ (a literal: TorchScript reads no global floats): a residual sum keeps unit variance.
        out = (h + (self.skip(x) if self.skip is not None else x)) * 0.70710678118654752
        if self.qkv is None:
            return out
        # Single head; channels laid out [3, C] (not EDM's interleaved [C, 3]), as unet.cpp reshapes them.
        b, c, hh, ww = out.shape
        qkv = self.qkv(self.norm2(out)).reshape(b, 3, c, hh * ww)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        w = torch.softmax(torch.bmm(q.transpose(1, 2), k) / math.sqrt(float(c)), -1)  # [B, HW_q, HW_k]
        a = torch.bmm(v, w.transpose(1, 2)).reshape(b, c, hh, ww)
        return (self.proj(a) + out) * 0.70710678118654752


class DsxUNet(nn.Module):
    """unet.cpp's UNetImpl: same modules, same registration names, same encoder/decoder plans."""

    encoder_plan: List[int]
    decoder_plan: List[int]

    def __init__(self, o):
        super().__init__()
        base, levels = o["base_channels"], len(o["channel_mult"])
        emb = 4 * base
        self.base_channels, self.num_classes = base, o["num_classes"]
        self.sigma_data = float(o["sigma_data"])
        self.map0, self.map1 = nn.Linear(base, emb), nn.Linear(emb, emb)
        self.map_label = nn.Linear(o["num_classes"], emb, bias=False) if o["num_classes"] > 0 else None
        self.conv_in = conv(o["image_channels"], base, 3)
        self.encoder, self.decoder, self.resample = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        self.mid = nn.ModuleList()
        attends = [(o["resolution"] >> l) in o["attention_at"] for l in range(levels)]
        # A plan step is a block index k >= 0 or a resample conv -1 - k, exactly as unet.cpp records it.
        self.encoder_plan, self.decoder_plan = [], []
        self.feature_step = -1
        skips, ch = [base], base  # channels of each skip, in push order
        for l in range(levels):
            if l > 0:
                self.encoder_plan.append(-1 - len(self.resample))
                self.resample.append(conv(ch, ch, 3, 2))
                skips.append(ch)
            out = base * o["channel_mult"][l]
            for _ in range(o["blocks"]):
                self.encoder_plan.append(len(self.encoder))
                self.encoder.append(ResBlock(ch, out, emb, attends[l]))
                ch = out
                skips.append(ch)
                if (o["resolution"] >> l) == 8:
                    self.feature_step = len(self.encoder_plan) - 1
        self.mid.append(ResBlock(ch, ch, emb, True))
        self.mid.append(ResBlock(ch, ch, emb, False))
        for l in reversed(range(levels)):
            out = base * o["channel_mult"][l]
            for _ in range(o["blocks"] + 1):
                self.decoder_plan.append(len(self.decoder))
                self.decoder.append(ResBlock(ch + skips.pop(), out, emb, attends[l]))
                ch = out
            if l > 0:
                self.decoder_plan.append(-1 - len(self.resample))
                self.resample.append(conv(ch, ch, 3))  # after a nearest-neighbour x2
        self.norm_out = group_norm(ch)
        self.conv_out = conv(ch, o["image_channels"], 3)

    def _embed(self, c_noise: Tensor, labels: Optional[Tensor]) -> Tensor:
        # EDM's PositionalEmbedding, endpoint=True, max_positions 10000; cos then sin (no swap).
        half = self.base_channels // 2
        freqs = torch.pow(1.0 / 10000.0, torch.arange(half, dtype=c_noise.dtype, device=c_noise.device)
                          / float(half - 1))
        arg = c_noise.unsqueeze(1) * freqs.unsqueeze(0)
        emb = self.map1(F.silu(self.map0(torch.cat([torch.cos(arg), torch.sin(arg)], 1))))
        if self.map_label is not None:
            if labels is None or labels.dim() != 2 or labels.size(1) != self.num_classes:
                raise RuntimeError("a class-conditional dsx UNet needs one-hot class_labels [B, {}]".format(
                    self.num_classes))
            emb = emb + self.map_label(labels.to(emb.dtype))
        return F.silu(emb)

    def _run(self, x: Tensor, sigma: Tensor, labels: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        """(D, the feature-step output, or an empty tensor without an 8x8 level), in x's dtype. Computes in
        the parameters' dtype, as dsx's UNetDenoiser::call does."""
        dtype = self.conv_in.weight.dtype
        xin = x.to(dtype)
        sd = self.sigma_data
        s = sigma.to(dtype).reshape(-1, 1, 1, 1)
        c_skip = sd * sd / (s * s + sd * sd)
        c_out = s * sd / (s * s + sd * sd).sqrt()
        c_in = 1.0 / (s * s + sd * sd).sqrt()
        emb = self._embed(s.log().flatten() / 4.0, labels)

        h = self.conv_in(c_in * xin)
        skips = [h]
        feature = torch.empty(0, dtype=x.dtype, device=x.device)
        for i, k in enumerate(self.encoder_plan):
            if k >= 0:
                block: _Block = self.encoder[k]
                h = block.forward(h, emb)
            else:
                down: _Conv = self.resample[-1 - k]
                h = down.forward(h)
            skips.append(h)
            if i == self.feature_step:
                feature = h.to(x.dtype)
        for m in self.mid:
            h = m(h, emb)
        for k in self.decoder_plan:
            if k >= 0:
                block: _Block = self.decoder[k]
                h = block.forward(torch.cat([h, skips.pop()], 1), emb)
            else:
                up: _Conv = self.resample[-1 - k]
                h = up.forward(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        f = self.conv_out(F.silu(self.norm_out(h)))
        return (c_skip * xin + c_out * f).to(x.dtype), feature

    def forward(self, x: Tensor, sigma: Tensor, class_labels: Optional[Tensor] = None) -> Tensor:
        return self._run(x, sigma, class_labels)[0]


class DsxUNetFeatures(DsxUNet):
    """DsxUNet with the AMED feature method (a net with a level at resolution 8)."""

    @torch.jit.export
    def features(self, x: Tensor, sigma: Tensor, class_labels: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        return self._run(x, sigma, class_labels)


# ---- the file ---------------------------------------------------------------------------------------------

def _attr_text(f, name, path):
    if name not in f.attrs:
        raise ExportError("{}: attribute '{}' is missing".format(path, name))
    v = f.attrs[name]
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def check_options(o, path):
    """UNetOptions::from_json and validate(): the keys, their types and ranges; errors name the file."""
    if not isinstance(o, dict):
        raise ExportError("{}: attribute options is not a JSON object".format(path))
    missing = [k for k in OPTION_KEYS if k not in o]
    if missing:
        raise ExportError("{}: options lack {}".format(path, ", ".join(missing)))
    ints = ("image_channels", "resolution", "base_channels", "blocks", "num_classes")
    lists = ("channel_mult", "attention_at")
    if (any(not isinstance(o[k], int) for k in ints)
            or any(not isinstance(o[k], list) or not all(isinstance(v, int) for v in o[k]) for k in lists)
            or any(not isinstance(o[k], (int, float)) for k in ("sigma_data", "dropout"))):
        raise ExportError("{}: options {} have the wrong types".format(path, json.dumps(o)))
    mult, res = o["channel_mult"], o["resolution"]
    levels = [res >> l for l in range(len(mult))]
    bad = [why for cond, why in (
        (1 <= o["image_channels"] <= 4, "image_channels in 1..4"),
        (o["base_channels"] >= 8 and o["base_channels"] % 8 == 0, "base_channels a multiple of 8"),
        (1 <= len(mult) <= 5 and all(1 <= m <= 8 for m in mult), "1 to 5 channel_mult entries in 1..8"),
        (res >= 8 and res & (res - 1) == 0 and mult and levels[-1] >= 4, "resolution a power of two >= 8"),
        (1 <= o["blocks"] <= 8, "blocks in 1..8"),
        (all(r in levels for r in o["attention_at"]), "attention_at resolutions of levels"),
        (o["num_classes"] >= 0, "num_classes >= 0"), (o["sigma_data"] > 0, "sigma_data > 0"),
        (0 <= o["dropout"] < 1, "dropout in [0, 1)")) if not cond]
    if bad:
        raise ExportError("{}: options {} break: {}".format(path, json.dumps(o), "; ".join(bad)))


def load_dsx_unet(path):
    """(the eager twin in float32 with the file's parameters, options, training info)."""
    import h5py  # only the loader needs it
    import numpy as np
    if not os.path.isfile(path):
        raise ExportError("{}: no such file".format(path))
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ExportError("{}: not an HDF5 file ({})".format(path, e))
    with f:
        fmt = _attr_text(f, "format", path) if "format" in f.attrs else None
        if fmt != FORMAT:
            raise ExportError("{}: not a dsx UNet file (attribute format = {!r}, expected {!r})".format(
                path, fmt, FORMAT))
        info = {}
        for name in ("options", "training"):
            try:
                info[name] = json.loads(_attr_text(f, name, path))
            except ValueError:
                raise ExportError("{}: attribute '{}' is not JSON".format(path, name))
        check_options(info["options"], path)
        net = (DsxUNetFeatures if 8 in [info["options"]["resolution"] >> l
                                        for l in range(len(info["options"]["channel_mult"]))] else DsxUNet)(
            info["options"])
        state = net.state_dict()
        names = set(f.keys())
        missing, extra = sorted(set(state) - names), sorted(names - set(state))
        if missing or extra:
            raise ExportError("{}: the datasets do not match the network its options describe (missing: {}; "
                              "unexpected: {})".format(path, ", ".join(missing) or "none", ", ".join(extra) or "none"))
        tensors = {}
        for name, want in state.items():
            d = f[name]
            if not isinstance(d, h5py.Dataset) or d.dtype.kind != "f" or tuple(d.shape) != tuple(want.shape):
                raise ExportError("{}: dataset '{}' is {} {}, the network needs float {}".format(
                    path, name, getattr(d, "dtype", "a group"), list(getattr(d, "shape", [])), list(want.shape)))
            v = np.asarray(d, dtype=np.float32)  # dsx reads every dataset as float32
            if not np.isfinite(v).all():
                raise ExportError("{}: dataset '{}' contains NaN/Inf".format(path, name))
            tensors[name] = torch.from_numpy(v)
    net.load_state_dict(tensors, strict=True)
    return net.eval(), info["options"], info["training"]


def _call(net, x, sigma, *class_labels):
    return net(x, sigma, *class_labels)


def export_dsx_unet(h5_path, out_path, dtype=torch.float32):
    """Exports the dsx UNet file `h5_path` to `out_path` (TorchScript, parameters in `dtype`) and checks the
    reloaded file against the eager twin; returns a dict with img_shape, num_classes, features (the method
    name or None), net (the eager float32 twin) and the check report."""
    net, o, _ = load_dsx_unet(h5_path)
    img_shape = [o["image_channels"], o["resolution"], o["resolution"]]
    attrs = {"img_shape": img_shape, "sigma_min": SIGMA_MIN, "sigma_max": SIGMA_MAX}
    has_features = isinstance(net, DsxUNetFeatures)
    try:
        module = torch.jit.script(set_attributes(copy.deepcopy(net), **attrs))
    except Exception as e:
        raise ExportError("internal: scripting the UNet twin failed: {}".format(e))
    tracee = Tracee(net, _call, feature_method="features" if has_features else None).eval()
    report = save_verified(module, out_path,
                           lambda p: verify_export(p, tracee, img_shape, sigma_examples(SIGMA_MIN, SIGMA_MAX),
                                                   attrs, num_classes=o["num_classes"]),
                           dtype)
    return {"img_shape": img_shape, "num_classes": o["num_classes"], "net": net,
            "features": "features" if has_features else None, "report": report}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="dsx UNet file (format dsx-unet/1: a train_model stage's model.h5 or export)")
    p.add_argument("out", help="output TorchScript file (.pt)")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"),
                   help="precision the parameters are stored in (default float32, as in the file); dsx converts "
                        "to the run's precision either way")
    a = p.parse_args()
    info = export_dsx_unet(a.model, a.out, getattr(torch, a.dtype))
    print("exported dsx UNet {} ({}{}) -> {}".format(
        a.model, "x".join(map(str, info["img_shape"])),
        ", {} classes".format(info["num_classes"]) if info["num_classes"] else "", a.out))
    for line in info["report"]:
        print("  check: " + line)
    lines = ["model:", "  kind: torchscript", "  file: {}".format(a.out), "  output: denoised"]
    if info["features"]:
        lines.append("  features: features      # the last 8x8 encoder block, as model: {kind: unet} has it")
    lines.append("  # img_shape {} and sigma {:g}..{:g} come from the module".format(
        yaml_value(info["img_shape"]), SIGMA_MIN, SIGMA_MAX))
    if info["num_classes"]:
        lines.append("  condition: {{num_classes: {}}}  # forward(x, sigma, class_labels [B, {}]), one-hot".format(
            info["num_classes"], info["num_classes"]))
    print_config(lines)


if __name__ == "__main__":
    run_cli(main)
