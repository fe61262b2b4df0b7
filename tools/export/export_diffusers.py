#!/usr/bin/env python3
"""Export a diffusers UNet2DModel (DDPM-style, discrete time) to a TorchScript file for dsx.

The exported module has
  forward(x, t)  = unet(x, t).sample        ε (or x0 / v, per the scheduler's prediction_type) of the VP
                                            sample x at the discrete step index t (a float: dsx feeds
                                            the index between grid points too)
  features(x, t) = (that output, the output of unet.mid_block)   the AMED predictor's input; it must be
                                            8x8 (256x256 DDPM models); otherwise name another block with
                                            --features-module or export without features (--no-features)
  img_shape = [in_channels, sample_size, sample_size]
dsx wraps it with `output: eps|x0|v` and `process: {kind: vp_discrete, ...}` (printed at the end, from the
scheduler config if given: num_train_timesteps, beta_start, beta_end, beta_schedule / trained_betas,
prediction_type).

diffusers' forward reads the parameters' dtype (t_emb.to(self.dtype)) and creates tensors with the input's
dtype, which a trace fixes; the export therefore holds one trace per dtype (float64 and float32, the
parameters stored twice) and dispatches on the input's dtype. Both are checked against the eager UNet on
batch sizes other than the traced one.

diffusers is needed only to load the model (imported here, not by the importable function).

Examples (a model directory with config.json + weights, e.g. a download of google/ddpm-celebahq-256, or a
pipeline directory as save_pretrained writes it):
  python3 tools/export/export_diffusers.py ddpm-celebahq-256 celebahq.pt
  python3 tools/export/export_diffusers.py my-pipeline net.pt --subfolder unet
  python3 tools/export/export_diffusers.py ddpm-cifar10-32 cifar.pt --features-module down_blocks.2.resnets.1
(google/ddpm-cifar10-32's mid block is 4x4; down_blocks.2.resnets.1 is its last block at 8x8.)
"""

import argparse
import json
import math
import os

from export_common import (ExportError, Tracee, check_feature_map_shape, print_config, run_cli, save_verified,
                           trace_per_dtype, verify_export, yaml_value)

PREDICTIONS = {"epsilon": "eps", "sample": "x0", "v_prediction": "v"}
DDPM_DEFAULTS = {"num_train_timesteps": 1000, "beta_start": 1e-4, "beta_end": 0.02, "beta_schedule": "linear"}


def config_value(config, key, default=None):
    """A key of a diffusers config (FrozenDict with attribute access) or of a plain dict / namespace."""
    if isinstance(config, dict):
        return config.get(key, default)
    return getattr(config, key, default)


def unet_shape(unet):
    """[in_channels, H, W] from unet.config (sample_size is an int or a pair)."""
    cfg = getattr(unet, "config", None)
    channels = config_value(cfg, "in_channels")
    size = config_value(cfg, "sample_size")
    if channels is None or size is None:
        raise ExportError("the UNet's config has no in_channels / sample_size")
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    return [int(channels), int(h), int(w)]


def unet_checks(unet):
    """Refuses class-conditional UNets and learned-variance outputs (dsx needs output shape = input shape)."""
    cfg = getattr(unet, "config", None)
    if config_value(cfg, "num_class_embeds") or config_value(cfg, "class_embed_type"):
        raise ExportError("the UNet is class-conditional (num_class_embeds / class_embed_type); dsx has no "
                          "`condition:` yet")
    out_channels = config_value(cfg, "out_channels", config_value(cfg, "in_channels"))
    if out_channels != config_value(cfg, "in_channels"):
        raise ExportError("the UNet has {} output channels for {} input channels (learned variance?); dsx needs "
                          "an ε/x0/v output of the input's shape".format(out_channels,
                                                                        config_value(cfg, "in_channels")))


def call_unet(unet, x, t):
    out = unet(x, t)
    return out.sample if hasattr(out, "sample") else out[0]


def scheduler_betas(cfg):
    """The β table of a DDPMScheduler config as a list, or None when dsx's linear table describes it."""
    n = int(cfg.get("num_train_timesteps", 1000))
    if cfg.get("trained_betas") is not None:
        return [float(b) for b in cfg["trained_betas"]]
    schedule = cfg.get("beta_schedule", "linear")
    b0, b1 = float(cfg.get("beta_start", 1e-4)), float(cfg.get("beta_end", 0.02))
    if schedule == "linear":
        return None
    if schedule == "scaled_linear":  # LDM: linear in sqrt(β)
        r0, r1 = math.sqrt(b0), math.sqrt(b1)
        return [(r0 + (r1 - r0) * i / (n - 1)) ** 2 for i in range(n)]
    if schedule == "squaredcos_cap_v2":  # improved DDPM: ᾱ(t) = cos²((t + 0.008)/1.008 · π/2), β ≤ 0.999
        abar = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
        return [min(1 - abar((i + 1) / n) / abar(i / n), 0.999) for i in range(n)]
    raise ExportError("scheduler beta_schedule '{}' is not supported (linear, scaled_linear, squaredcos_cap_v2 "
                      "or trained_betas)".format(schedule))


def dsx_model_lines(out_path, scheduler=None, features=True):
    """The dsx `model:` block for the export and a scheduler config dict (None: DDPM's defaults)."""
    cfg = dict(DDPM_DEFAULTS)
    cfg.update(scheduler or {})
    prediction = cfg.get("prediction_type", "epsilon")
    if prediction not in PREDICTIONS:
        raise ExportError("scheduler prediction_type '{}' is not supported (epsilon, sample, v_prediction)".format(
            prediction))
    betas = scheduler_betas(cfg)
    if betas is not None:
        process = "{{kind: vp_discrete, betas: {}}}".format(yaml_value(betas))
    elif all(cfg[k] == DDPM_DEFAULTS[k] for k in ("num_train_timesteps", "beta_start", "beta_end")):
        process = "{kind: vp_discrete}        # DDPM: 1000 steps, linear beta 1e-4 .. 0.02"
    else:
        process = "{{kind: vp_discrete, num_steps: {}, beta_start: {}, beta_end: {}}}".format(
            int(cfg["num_train_timesteps"]), yaml_value(float(cfg["beta_start"])), yaml_value(float(cfg["beta_end"])))
    lines = ["model:", "  kind: torchscript", "  file: {}".format(out_path),
             "  output: {}".format(PREDICTIONS[prediction]), "  process: " + process]
    if features:
        lines.append("  features: features")
    if scheduler is None:
        lines.append("# (no --scheduler-config: DDPM's defaults assumed)")
    if cfg.get("clip_sample"):
        lines.append("# note: the scheduler clips x0 to [-1, 1] (clip_sample); dsx's ODE solvers do not")
    return lines


def t_examples(num_train_timesteps=1000):
    """Time inputs for tracing and checks: distinct, non-integer ones included."""
    n = float(num_train_timesteps)
    return [n - 1, 0.61 * n + 0.5, 0.3 * n, 0.05 * n + 0.25, 0.0]


def export_diffusers(unet, out_path, feature_module="mid_block", num_train_timesteps=1000, device="cpu"):
    """Exports `unet` (UNet2DModel or anything with its interface) to `out_path` and checks it; returns a
    dict with img_shape, feature_shape and the check report. `unet` is not modified."""
    unet_checks(unet)
    shape = unet_shape(unet)
    tracee = Tracee(unet, call_unet, feature_module).eval()
    labels = t_examples(num_train_timesteps)
    feature_shape = check_feature_map_shape(tracee, shape, labels, device) if feature_module else None
    attrs = {"img_shape": shape}
    module = trace_per_dtype(tracee, shape, labels, attrs, device)
    report = save_verified(module, out_path,
                           lambda path: verify_export(path, tracee, shape, labels, attrs, device=device))
    return {"img_shape": shape, "feature_shape": feature_shape, "report": report}


def load_scheduler_config(path):
    """scheduler_config.json (or a directory holding it) -> dict."""
    if os.path.isdir(path):
        path = os.path.join(path, "scheduler_config.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise ExportError("--scheduler-config {}: {}".format(path, e))


def load_unet(path, subfolder=None):
    try:
        from diffusers import UNet2DModel
    except ImportError as e:
        raise ExportError("diffusers is not importable ({}): install it in this Python (pip install diffusers)"
                          .format(e))
    try:
        return UNet2DModel.from_pretrained(path, subfolder=subfolder)
    except Exception as e:
        raise ExportError("UNet2DModel.from_pretrained({!r}{}) failed: {}".format(
            path, ", subfolder={!r}".format(subfolder) if subfolder else "", e))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="UNet2DModel directory (config.json + weights) or pipeline directory")
    p.add_argument("out", help="output TorchScript file (.pt)")
    p.add_argument("--subfolder", help="the UNet's subfolder in a pipeline directory (e.g. unet)")
    p.add_argument("--scheduler-config", metavar="PATH",
                   help="scheduler_config.json (or its directory) for the printed dsx process; default: "
                        "MODEL/scheduler_config.json or MODEL/scheduler/ if present, else DDPM's 1000 linear steps")
    p.add_argument("--features-module", default="mid_block", metavar="PATH",
                   help="submodule whose output is the 8x8 feature map (default: mid_block)")
    p.add_argument("--no-features", action="store_true", help="export without a features method")
    p.add_argument("--device", default="cpu", help="trace and check on this device (default cpu)")
    a = p.parse_args()
    scheduler = None
    if a.scheduler_config:
        scheduler = load_scheduler_config(a.scheduler_config)
    else:
        for candidate in (a.model, os.path.join(a.model, "scheduler")):
            if os.path.isfile(os.path.join(candidate, "scheduler_config.json")):
                scheduler = load_scheduler_config(candidate)
                break
    unet = load_unet(a.model, a.subfolder)
    feature_module = None if a.no_features else a.features_module
    n = int((scheduler or {}).get("num_train_timesteps", 1000))
    info = export_diffusers(unet, a.out, feature_module, n, a.device)
    print("exported {} {} (features: {}) -> {}".format(
        type(unet).__name__, info["img_shape"],
        "unet.{} {}".format(feature_module, info["feature_shape"]) if feature_module else "none", a.out))
    for line in info["report"]:
        print("  check: " + line)
    print_config(dsx_model_lines(a.out, scheduler, feature_module is not None))


if __name__ == "__main__":
    run_cli(main)
