#!/usr/bin/env python3
"""Export an NVlabs EDM network pickle to a TorchScript file for dsx (``output: denoised``).

The pickle (``edm-cifar10-32x32-uncond-vp.pkl``, ...) holds ``{'ema': EDMPrecond, ...}``; its classes come
from the EDM repository's ``torch_utils``/``dnnlib``, so ``--edm-repo`` must point at a checkout of it (or of
any repository that ships those modules, e.g. diff-sampler's ``amed-solver-main``).

The exported module has
  forward(x, sigma)  = net(x, sigma).to(x.dtype)     the EDM denoiser D(x; σ), x = x0 + σ·n; EDMPrecond
                                                      computes in float32 internally, exactly as it does eagerly
  features(x, sigma) = (D, the output of net.model.enc['8x8_block3'] (SongUNet) or ['8x8_block2']
                        (DhariwalUNet)), the block whose channel mean the official AMED code feeds the predictor
  img_shape = [img_channels, img_resolution, img_resolution], sigma_min, sigma_max
A class-conditional network (label_dim N > 0, e.g. EDM's ImageNet-64 DhariwalUNet) gets a third argument,
forward(x, sigma, class_labels) = net(x, sigma, class_labels) and features(x, sigma, class_labels), with
class_labels one-hot [B, N] as EDMPrecond takes them (dsx passes them in x's dtype); its dsx config has
`condition: {num_classes: N}`.
It is traced in float64 on a batch of 2 (on --device) and checked against the eager network on batches of
3 and 1, in float64 and in float32; any difference fails the export. A conditional export is also checked
with other labels: it must again equal the eager network and differ from the first output (the labels reach
the network rather than being baked into the trace).

σ range: the network's sigma_min / sigma_max clamped to EDM's sampler defaults [0.002, 80] (EDMPrecond
itself stores 0 and inf; EDM's generate.py and AMED use max(0.002, net.sigma_min), min(80, net.sigma_max)),
unless --sigma-min / --sigma-max are given.

Examples:
  python3 tools/export/export_edm.py edm-cifar10-32x32-uncond-vp.pkl cifar10.pt --edm-repo ~/src/edm
  python3 tools/export/export_edm.py edm-imagenet-64x64-cond-adm.pkl imagenet64.pt --edm-repo ~/src/edm
"""

import argparse
import math

from export_common import (ExportError, Tracee, check_feature_map_shape, first_float_dtype, load_checkpoint,
                           print_config, run_cli, save_verified, sigma_examples, trace_single, verify_export,
                           yaml_value)

EDM_SIGMA_MIN, EDM_SIGMA_MAX = 0.002, 80.0
FEATURE_BLOCKS = {"SongUNet": "8x8_block3", "DhariwalUNet": "8x8_block2"}  # AMED's hooked blocks


def load_edm_pickle(path, edm_repo=None, key="ema"):
    """pickle.load(f)[key] with the EDM repository importable."""
    return load_checkpoint(path, key, edm_repo, "--edm-repo",
                           "a checkout of github.com/NVlabs/edm, whose torch_utils/ and dnnlib/ the pickle imports")


def edm_checks(net):
    """Refuses what is not an EDM preconditioner; returns the number of classes (label_dim, 0 if none)."""
    for attr in ("img_channels", "img_resolution", "model"):
        if not hasattr(net, attr):
            raise ExportError("the network ({}) has no attribute '{}': expected an EDM preconditioner "
                              "(EDMPrecond, VPPrecond, VEPrecond or iDDPMPrecond)".format(type(net).__name__, attr))
    return int(getattr(net, "label_dim", 0) or 0)


def edm_feature_path(net, block=None):
    """'model.enc.<block>': the official AMED choice by network class, or `block` if given."""
    enc = getattr(net.model, "enc", None)
    if enc is None:
        raise ExportError("net.model ({}) has no 'enc' ModuleDict".format(type(net.model).__name__))
    name = type(net.model).__name__
    if block is None:
        if name not in FEATURE_BLOCKS:
            raise ExportError("unknown network class '{}' (expected SongUNet or DhariwalUNet): name the 8x8 "
                              "encoder block with --feature-block (one of: {})".format(
                                  name, ", ".join(k for k in enc.keys() if k.startswith("8x8"))))
        block = FEATURE_BLOCKS[name]
    if block not in enc.keys():
        raise ExportError("net.model.enc has no block '{}' (8x8 blocks: {})".format(
            block, ", ".join(k for k in enc.keys() if k.startswith("8x8")) or "none"))
    return "model.enc." + block


def edm_sigma_range(net, sigma_min=None, sigma_max=None):
    """The σ range written into the export (see the module docstring)."""
    net_min = float(getattr(net, "sigma_min", 0.0))
    net_max = float(getattr(net, "sigma_max", math.inf))
    lo = float(sigma_min) if sigma_min is not None else max(EDM_SIGMA_MIN, net_min)
    hi = float(sigma_max) if sigma_max is not None else min(EDM_SIGMA_MAX, net_max)
    if not (0 < lo < hi < math.inf):
        raise ExportError("σ range [{}, {}] is not a positive interval".format(lo, hi))
    return lo, hi


def call_edm(net, x, sigma, *class_labels):
    return net(x, sigma, *class_labels)


def export_edm(net, out_path, sigma_min=None, sigma_max=None, feature_block=None, device="cpu"):
    """Exports the EDM preconditioner `net` to `out_path` (TorchScript) and checks it; returns a dict with
    img_shape, sigma_min, sigma_max, num_classes (0: unconditional), feature_block, feature_shape and the
    check report. `net` is not modified (a float64 copy is traced)."""
    num_classes = edm_checks(net)
    img_shape = [int(net.img_channels), int(net.img_resolution), int(net.img_resolution)]
    lo, hi = edm_sigma_range(net, sigma_min, sigma_max)
    path = edm_feature_path(net, feature_block)
    tracee = Tracee(net, call_edm, path).eval()
    labels = sigma_examples(lo, hi)
    feature_shape = check_feature_map_shape(tracee, img_shape, labels, device, num_classes)
    attrs = {"img_shape": img_shape, "sigma_min": lo, "sigma_max": hi}
    module = trace_single(tracee, img_shape, labels, attrs, device, num_classes)
    report = save_verified(module, out_path,  # stored in the checkpoint's precision (float32)
                           lambda path: verify_export(path, tracee, img_shape, labels, attrs, device=device,
                                                      num_classes=num_classes),
                           first_float_dtype(net))
    return {"img_shape": img_shape, "sigma_min": lo, "sigma_max": hi, "num_classes": num_classes,
            "feature_block": path, "feature_shape": feature_shape, "report": report}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pickle", help="EDM network pickle (network-snapshot-*.pkl, edm-*.pkl)")
    p.add_argument("out", help="output TorchScript file (.pt)")
    p.add_argument("--edm-repo", metavar="PATH", help="EDM checkout whose torch_utils/dnnlib the pickle imports")
    p.add_argument("--key", default="ema", help="the pickle's entry holding the network (default: ema)")
    p.add_argument("--sigma-min", type=float, help="override the σ range's lower end (attribute sigma_min)")
    p.add_argument("--sigma-max", type=float, help="override the σ range's upper end (attribute sigma_max)")
    p.add_argument("--feature-block", metavar="NAME",
                   help="net.model.enc block for features() (default: 8x8_block3 for SongUNet, 8x8_block2 for "
                        "DhariwalUNet)")
    p.add_argument("--device", default="cpu",
                   help="trace and check on this device (default cpu); tensors the network creates on the fly "
                        "are fixed to it, so export on the device you will sample on")
    a = p.parse_args()
    net = load_edm_pickle(a.pickle, a.edm_repo, a.key)
    info = export_edm(net, a.out, a.sigma_min, a.sigma_max, a.feature_block, a.device)
    print("exported {} ({}{}, features from net.{} {}) -> {}".format(
        type(net).__name__, type(net.model).__name__,
        ", {} classes".format(info["num_classes"]) if info["num_classes"] else "", info["feature_block"],
        info["feature_shape"], a.out))
    for line in info["report"]:
        print("  check: " + line)
    print_config([
        "model:",
        "  kind: torchscript",
        "  file: {}".format(a.out),
        "  output: denoised",
        "  features: features      # img_shape {} and sigma {:g}..{:g} come from the module".format(
            yaml_value(info["img_shape"]), info["sigma_min"], info["sigma_max"]),
    ] + (["  condition: {{num_classes: {}}}  # forward(x, sigma, class_labels [B, {}]), one-hot".format(
        info["num_classes"], info["num_classes"])] if info["num_classes"] else []))


if __name__ == "__main__":
    run_cli(main)
