#!/usr/bin/env python3
"""Export any torch.nn.Module f(x, sigma_or_t) to a TorchScript file for dsx.

--factory package.module:callable names a function (or class) that returns the module, called with the
keyword arguments of --kwargs (JSON); --path adds directories to sys.path first. The module is used in
eval mode, as its forward(x, label) is:
  --output denoised  forward(x, sigma) -> D(x; σ), EDM form (x = x0 + σ·n)          (the default)
  --output eps|x0|v  forward(x_vp, t) -> ε | x0 | v of a VP network, t its own time input (give dsx the
                     process: vp_linear | vp_cosine | vp_discrete)
--features NAME adds the AMED feature map: NAME is either a method of the module returning
(output, feature map [B, C, 8, 8]), exported as is, or a dotted submodule path (e.g. enc.8x8_block3)
whose output is captured with a forward hook and exported as the method `features`.
--shape C,H,W is stored as the attribute img_shape; --sigma-min / --sigma-max as sigma_min / sigma_max.

--mode auto (default) scripts the module (torch.jit.script keeps every dtype and batch size dynamic) and
falls back to tracing when it is not scriptable or its script fails the checks; a trace is made once in
float64 and, when that graph is not dtype-agnostic, once per dtype (float64 and float32, dispatched on the
input's dtype). A submodule feature always needs a trace. Each candidate is reloaded and compared with the
eager module on batch sizes 3 and 1 in float64 and float32; the export fails if none passes.

Example:
  python3 tools/export/export_module.py --path ~/proj --factory mynet.models:load_denoiser \\
      --kwargs '{"checkpoint": "ckpt.pt"}' --shape 3,32,32 --features enc.8x8_block3 net.pt
"""

import argparse
import copy
import importlib
import json
import sys

import torch
from torch import nn

from export_common import (ExportError, Tracee, check_feature_map_shape, parse_shape, print_config, run_cli,
                           save_verified, set_attributes, sigma_examples, trace_per_dtype, trace_single,
                           verify_export, yaml_value)

OUTPUTS = ("denoised", "eps", "x0", "v")
VP_T_EXAMPLES = [0.95, 0.6, 0.3, 0.1, 0.02]  # continuous VP time in (0, 1]; override with --labels


def load_factory(spec, kwargs=None, paths=()):
    """'package.module:callable' -> callable(**kwargs), which must return an nn.Module."""
    for p in paths:
        sys.path.insert(0, p)
    if ":" not in spec:
        raise ExportError("--factory {!r}: expected package.module:callable".format(spec))
    mod_name, attr = spec.split(":", 1)
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise ExportError("--factory {}: cannot import {} ({}); add its directory with --path".format(
            spec, mod_name, e))
    fn = mod
    for part in attr.split("."):
        if not hasattr(fn, part):
            raise ExportError("--factory {}: {} has no attribute {}".format(spec, mod_name, attr))
        fn = getattr(fn, part)
    net = fn(**(kwargs or {}))
    if not isinstance(net, nn.Module):
        raise ExportError("--factory {} returned {}, not a torch.nn.Module".format(spec, type(net).__name__))
    return net


def feature_kind(net, features):
    """'method', 'submodule' or None for --features NAME."""
    if features is None:
        return None
    attr = getattr(net, features, None) if "." not in features else None
    if attr is not None and callable(attr) and not isinstance(attr, nn.Module):
        return "method"
    try:
        net.get_submodule(features)
        return "submodule"
    except AttributeError:
        raise ExportError("--features {}: the module has neither a method nor a submodule of that name".format(
            features))


def call_module(net, x, label):
    return net(x, label)


def script_module(net, features, attrs):
    """torch.jit.script of a copy of `net` with the attributes and the features method compiled in."""
    net = copy.deepcopy(net).eval()
    if features is not None:
        # Compile the method as if it were decorated with @torch.jit.export (this marks the class's function
        # object for the rest of this process; nothing is written to the user's source).
        torch.jit.export(getattr(type(net), features))
    set_attributes(net, **attrs)
    return torch.jit.script(net)


def _candidates(features, kind, mode):
    """(name, builder) pairs in the order they are tried."""
    order = {"auto": ["script", "trace", "trace-per-dtype"], "script": ["script"], "trace": ["trace"],
             "trace-per-dtype": ["trace-per-dtype"]}[mode]
    if kind == "submodule":
        if mode == "script":
            raise ExportError("--features {} is a submodule: its output can only be captured by a trace "
                              "(--mode trace or auto)".format(features))
        order = [o for o in order if o != "script"]
    return order


def export_module(net, out_path, shape, output="denoised", features=None, sigma_min=None, sigma_max=None,
                  mode="auto", labels=None, device="cpu"):
    """Exports `net` to `out_path` by the first of script / trace / trace per dtype (as `mode` allows)
    that passes verify_export; returns a dict with method, features (the dsx method name or None),
    feature_shape and the check report. `net` itself is not modified."""
    if output not in OUTPUTS:
        raise ExportError("--output {}: expected one of {}".format(output, ", ".join(OUTPUTS)))
    if mode not in ("auto", "script", "trace", "trace-per-dtype"):
        raise ExportError("--mode {}: expected auto, script, trace or trace-per-dtype".format(mode))
    net = net.eval()
    kind = feature_kind(net, features)
    if labels is None:
        labels = sigma_examples(sigma_min or 0.002, sigma_max or 80.0) if output == "denoised" else VP_T_EXAMPLES
    attrs = {"img_shape": list(shape), "sigma_min": sigma_min, "sigma_max": sigma_max}
    attrs = {k: v for k, v in attrs.items() if v is not None}
    tracee = Tracee(net, call_module, features if kind == "submodule" else None,
                    features if kind == "method" else None).eval()
    feature_shape = check_feature_map_shape(tracee, shape, labels, device) if kind else None
    failures = []
    for method in _candidates(features, kind, mode):
        try:
            if method == "script":
                module = script_module(net, features, attrs)
            elif method == "trace":
                module = trace_single(tracee, shape, labels, attrs, device)
            else:
                module = trace_per_dtype(tracee, shape, labels, attrs, device)
            report = save_verified(module, out_path,
                                   lambda path: verify_export(path, tracee, shape, labels, attrs, device=device))
        except Exception as e:  # any failure of a candidate: try the next one, report all at the end
            failures.append("{}: {}".format(method, str(e).splitlines()[0] if str(e) else type(e).__name__))
            continue
        # A trace names its features method `features`; a script keeps the module's own method name.
        method_name = None if kind is None else (features if method == "script" else "features")
        return {"method": method, "features": method_name, "feature_shape": feature_shape, "report": report,
                "tried": failures}
    raise ExportError("no export passed the checks:\n  " + "\n  ".join(failures))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="output TorchScript file (.pt)")
    p.add_argument("--factory", required=True, metavar="package.module:callable",
                   help="returns the nn.Module (called with --kwargs)")
    p.add_argument("--kwargs", default="{}", metavar="JSON", help="keyword arguments of the factory (JSON object)")
    p.add_argument("--path", action="append", default=[], metavar="DIR", help="prepend DIR to sys.path (repeatable)")
    p.add_argument("--shape", required=True, metavar="C,H,W", help="sample shape (attribute img_shape)")
    p.add_argument("--output", default="denoised", choices=OUTPUTS, help="what forward returns (default denoised)")
    p.add_argument("--features", metavar="METHOD_OR_SUBMODULE", help="AMED feature map source (see above)")
    p.add_argument("--sigma-min", type=float, help="attribute sigma_min (the model's σ range)")
    p.add_argument("--sigma-max", type=float, help="attribute sigma_max")
    p.add_argument("--mode", default="auto", choices=("auto", "script", "trace", "trace-per-dtype"),
                   help="how to convert (default auto: script, else trace, else one trace per dtype)")
    p.add_argument("--labels", metavar="L1,L2,...",
                   help="σ (or t) values of the checks (default: log-spaced over the σ range, or VP times "
                        "0.95..0.02); use the network's own time range, e.g. 999,500,0 for a discrete one")
    p.add_argument("--device", default="cpu", help="trace and check on this device (default cpu)")
    a = p.parse_args()
    try:
        kwargs = json.loads(a.kwargs)
    except ValueError as e:
        raise ExportError("--kwargs: not JSON: {}".format(e))
    if not isinstance(kwargs, dict):
        raise ExportError("--kwargs: expected a JSON object")
    labels = None
    if a.labels:
        try:
            labels = [float(v) for v in a.labels.split(",") if v.strip()]
        except ValueError:
            raise ExportError("--labels {!r}: expected numbers".format(a.labels))
    shape = parse_shape(a.shape)
    net = load_factory(a.factory, kwargs, a.path)
    info = export_module(net, a.out, shape, a.output, a.features, a.sigma_min, a.sigma_max, a.mode, labels,
                         a.device)
    for failure in info["tried"]:
        print("  not used: " + failure)
    print("exported {} by {} -> {}".format(type(net).__name__, info["method"], a.out))
    for line in info["report"]:
        print("  check: " + line)
    lines = ["model:", "  kind: torchscript", "  file: {}".format(a.out), "  output: {}".format(a.output)]
    if a.output != "denoised":
        lines.append("  process: {kind: vp_linear}   # or vp_cosine / vp_discrete: the network's own process")
    if info["features"]:
        lines.append("  features: {}".format(info["features"]))
    lines.append("# shape {} from the module's img_shape".format(yaml_value(shape)))
    print_config(lines)


if __name__ == "__main__":
    run_cli(main)
