#!/usr/bin/env python3
"""Convert an official AMED predictor snapshot to dsx's predictor file (HDF5).

The official training (github.com/zju-pi/diff-sampler, amed-solver-main) writes
``exps/NNNNN-.../network-snapshot-KKKKKK.pkl`` = ``{'model': AMED_predictor, 'loss_fn': ...}``; its pickle
embeds the class source through EDM's torch_utils.persistence, so unpickling needs that repository's
torch_utils/dnnlib importable: pass --amed-repo PATH/amed-solver-main. (A ``.pt`` file holding
``{'model': ...}`` as in the official example notebook is read with torch.load.)

The HDF5 file is what dsx's save_predictor writes (framework/amed/predictor.cpp, docs/amed.md §6):
  datasets  map_layer0.{weight,bias}, enc_layer0.*, enc_layer1.*, fc_r.*, [fc_scale_dir.*], [fc_scale_time.*]
            float32, weights [out, in], official names
  attributes scale_dir, scale_time (float64: the half-widths a_d, a_t; a head exists iff > 0),
            student, teacher (strings: amed | euler | dpm2 | ipndm | dpmpp, teacher also heun),
            m, num_steps, afs, max_order, predict_x0, lower_order_final (int64),
            schedule_kind (string), sigma_min, sigma_max, rho, k, eps_s (float64),
            features (string: the input the predictor was trained on; "model" for the official ones)
The settings come from the predictor's attributes (sampler_stu, sampler_tea, M, num_steps, schedule_type,
schedule_rho, afs, max_order, predict_x0, lower_order_final; the official sampler name 'dpm' is dsx's
'dpm2'). The predictor does not store the σ range: it is the diffusion model's, 0.002 / 80 for the EDM
models (cifar10, ffhq, afhqv2, imagenet64, lsun_bedroom); give --sigma-min / --sigma-max for the others
(they must equal the range of the model you sample with, or dsx refuses the grid).

Before writing, the predictor's own forward is run on test inputs and its r, c, a are compared with dsx's
formula applied to the tensors to be written (docs/amed.md §6); a predictor version with another
architecture or other output ranges is refused.

Example:
  python3 tools/export/export_amed_predictor.py exps/00000-cifar10-4-5-amed-heun-1-uni1.0-afs/\\
network-snapshot-000010.pkl cifar10-amed.h5 --amed-repo ~/src/diff-sampler/amed-solver-main
"""

import argparse
import math
import os
import sys

from export_common import H5_LIBVER, ExportError, create_dsx_dataset, load_checkpoint, run_cli

try:
    import numpy as np
    import h5py
except ImportError as e:  # pragma: no cover - depends on the user's environment
    sys.exit("error: {} (on Debian: apt-get install python3-h5py)".format(e))

HIDDEN, BOTTLENECK_IN, BOTTLENECK_OUT, NOISE_CHANNELS = 128, 64, 4, 8  # dsx's (and the official) sizes
PARAMETER_SHAPES = [  # dsx's parameter order and shapes ([out, in])
    ("map_layer0.weight", [NOISE_CHANNELS, NOISE_CHANNELS]), ("map_layer0.bias", [NOISE_CHANNELS]),
    ("enc_layer0.weight", [HIDDEN, BOTTLENECK_IN]), ("enc_layer0.bias", [HIDDEN]),
    ("enc_layer1.weight", [BOTTLENECK_OUT, HIDDEN]), ("enc_layer1.bias", [BOTTLENECK_OUT]),
    ("fc_r.weight", [1, 2 * NOISE_CHANNELS + BOTTLENECK_OUT]), ("fc_r.bias", [1]),
    ("fc_scale_dir.weight", [1, 2 * NOISE_CHANNELS + BOTTLENECK_OUT]), ("fc_scale_dir.bias", [1]),
    ("fc_scale_time.weight", [1, 2 * NOISE_CHANNELS + BOTTLENECK_OUT]), ("fc_scale_time.bias", [1]),
]
SAMPLER_NAMES = {"dpm": "dpm2"}  # official name -> dsx name; the others are the same
STUDENTS = ("amed", "euler", "dpm2", "ipndm", "dpmpp")
TEACHERS = ("heun", "euler", "dpm2", "ipndm", "dpmpp")
SCHEDULES = ("polynomial", "logsnr", "time_uniform", "discrete")
EDM_DATASETS = ("cifar10", "ffhq", "afhqv2", "imagenet64", "lsun_bedroom")  # σ ∈ [0.002, 80]
SCHEDULE_K, SCHEDULE_EPS_S = 3.1, 1e-3  # dsx's defaults of the keys the official schedules do not have


def load_snapshot(path, amed_repo=None, key="model"):
    """The AMED_predictor in an official snapshot (.pkl) or notebook checkpoint (.pt)."""
    return load_checkpoint(path, key, amed_repo, "--amed-repo",
                           "diff-sampler's amed-solver-main, whose torch_utils/ and training/ the snapshot imports")


def head_width(predictor, name, override, has_head):
    """a_d or a_t: the override, else the predictor's attribute; consistent with the head's presence."""
    value = override if override is not None else getattr(predictor, name, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExportError("the predictor's {} is {!r}, not a number (an older predictor version?): give "
                          "--{} A (the half-width of its output range)".format(name, value, name.replace("_", "-")))
    value = float(value)
    if has_head and not 0 < value < 1:
        raise ExportError("the predictor has the head fc_{} but {} = {} (need 0 < a < 1; give --{})".format(
            name, name, value, name.replace("_", "-")))
    if not has_head and value != 0:
        raise ExportError("{} = {} but the predictor has no head fc_{}".format(name, value, name))
    return value


def check_time_embedding(predictor):
    """dsx hard-codes EDM's PositionalEmbedding(8, max_positions=10000, endpoint=True)."""
    emb = getattr(predictor, "map_noise", None)
    if emb is None:
        return
    want = {"num_channels": NOISE_CHANNELS, "max_positions": 10000, "endpoint": True}
    for attr, value in want.items():
        if hasattr(emb, attr) and getattr(emb, attr) != value:
            raise ExportError("the predictor's time embedding has {} = {!r}; dsx implements {!r}".format(
                attr, getattr(emb, attr), value))


def predictor_tensors(predictor):
    """{official name: float32 numpy array} in dsx's order, checked against dsx's architecture."""
    state = predictor.state_dict()
    known = dict(PARAMETER_SHAPES)
    unknown = [k for k in state if k not in known]
    if unknown:
        raise ExportError("the predictor has parameters dsx does not know: {} (expected the official "
                          "AMED_predictor: {})".format(", ".join(unknown), ", ".join(known)))
    out = {}
    for name, shape in PARAMETER_SHAPES:
        if name not in state:
            continue
        value = state[name].detach().cpu().float().numpy()
        if list(value.shape) != shape:
            raise ExportError("parameter {} has shape {}, dsx's predictor needs {} (hidden_dim {}, "
                              "bottleneck {}x8x8 -> {}, {} noise channels)".format(
                                  name, list(value.shape), shape, HIDDEN, BOTTLENECK_IN // 64, BOTTLENECK_OUT,
                                  NOISE_CHANNELS))
        if not np.isfinite(value).all():
            raise ExportError("parameter {} contains NaN/Inf".format(name))
        out[name] = np.ascontiguousarray(value)
    for name in ("map_layer0.weight", "enc_layer0.weight", "enc_layer1.weight", "fc_r.weight"):
        if name not in out:
            raise ExportError("the predictor has no parameter {}".format(name))
    for head in ("fc_scale_dir", "fc_scale_time"):
        if (head + ".weight" in out) != (head + ".bias" in out):
            raise ExportError("the predictor's head {} is incomplete".format(head))
    return out


def sampler_name(value, allowed, what):
    name = SAMPLER_NAMES.get(value, value)
    if name not in allowed:
        raise ExportError("the predictor's {} is {!r}; dsx supports {}".format(what, value, ", ".join(allowed)))
    return name


def sigma_range(predictor, sigma_min=None, sigma_max=None):
    dataset = getattr(predictor, "dataset_name", None)
    if sigma_min is None or sigma_max is None:
        if dataset not in EDM_DATASETS:
            raise ExportError("the predictor was trained on dataset {!r}, whose σ range is not EDM's "
                              "[0.002, 80]: give --sigma-min and --sigma-max (the model's range)".format(dataset))
    lo = 0.002 if sigma_min is None else float(sigma_min)
    hi = 80.0 if sigma_max is None else float(sigma_max)
    if not 0 < lo < hi < math.inf:
        raise ExportError("σ range [{}, {}] is not a positive interval".format(lo, hi))
    return lo, hi


def predictor_settings(predictor, sigma_min=None, sigma_max=None, scale_dir=None, scale_time=None,
                       tensors=None):
    """The file's attributes, in save_predictor's order, as (name, value) pairs: str, int or float."""
    tensors = predictor_tensors(predictor) if tensors is None else tensors
    a_d = head_width(predictor, "scale_dir", scale_dir, "fc_scale_dir.weight" in tensors)
    a_t = head_width(predictor, "scale_time", scale_time, "fc_scale_time.weight" in tensors)
    student = sampler_name(getattr(predictor, "sampler_stu", None), STUDENTS, "sampler_stu")
    teacher = sampler_name(getattr(predictor, "sampler_tea", None), TEACHERS, "sampler_tea")
    schedule = getattr(predictor, "schedule_type", None)
    if schedule not in SCHEDULES:
        raise ExportError("the predictor's schedule_type is {!r}; expected one of {}".format(
            schedule, ", ".join(SCHEDULES)))
    num_steps = getattr(predictor, "num_steps", None)
    if not isinstance(num_steps, int) or num_steps < 2:
        raise ExportError("the predictor's num_steps is {!r}; expected an integer >= 2".format(num_steps))
    rho = getattr(predictor, "schedule_rho", None)
    lo, hi = sigma_range(predictor, sigma_min, sigma_max)
    m = getattr(predictor, "M", None)
    max_order = getattr(predictor, "max_order", None)
    return [
        ("scale_dir", a_d), ("scale_time", a_t),
        ("student", student), ("teacher", teacher),
        ("m", int(1 if m is None else m)),
        ("schedule_kind", schedule), ("num_steps", int(num_steps)),
        ("sigma_min", lo), ("sigma_max", hi),
        ("rho", float(7.0 if rho is None else rho)), ("k", SCHEDULE_K), ("eps_s", SCHEDULE_EPS_S),
        ("afs", int(bool(getattr(predictor, "afs", False)))),
        ("max_order", int(3 if max_order is None else max_order)),
        ("predict_x0", int(bool(getattr(predictor, "predict_x0", True)))),
        ("lower_order_final", int(bool(getattr(predictor, "lower_order_final", True)))),
        ("features", "model"),  # the official predictor reads the network's bottleneck, channel-averaged
    ]


def _set_string_attr(f, name, text):
    """A scalar fixed-length UTF-8 NULLTERM string attribute, as dsx's h5::File::set_attr writes it."""
    data = text.encode("utf-8")
    tid = h5py.h5t.C_S1.copy()
    tid.set_size(max(len(data), 1))
    tid.set_cset(h5py.h5t.CSET_UTF8)
    tid.set_strpad(h5py.h5t.STR_NULLTERM)
    space = h5py.h5s.create(h5py.h5s.SCALAR)
    attr = h5py.h5a.create(f.id, name.encode("utf-8"), tid, space)
    attr.write(np.array(data or b"\0", dtype="S{}".format(max(len(data), 1))), mtype=tid)


def write_predictor_h5(path, tensors, settings):
    """Writes the datasets and attributes; to a temporary name first, renamed when complete."""
    tmp = "{}.tmp{}".format(path, os.getpid())
    try:
        with h5py.File(tmp, "w", libver=H5_LIBVER) as f:
            for name, value in tensors.items():
                create_dsx_dataset(f, name, value.astype("<f4"))
            for name, value in settings:
                if isinstance(value, str):
                    _set_string_attr(f, name, value)
                elif isinstance(value, int):
                    f.attrs.create(name, np.int64(value))
                else:
                    f.attrs.create(name, np.float64(value))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def dsx_predictor_forward(tensors, a_d, a_t, h, sigma_cur, sigma_next):
    """(r, c, a) [B] as dsx's AmedPredictor computes them from the file's tensors (float64 numpy)."""
    W = {k: v.astype(np.float64) for k, v in tensors.items()}
    silu = lambda v: v / (1 + np.exp(-v))  # noqa: E731
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    freqs = (1.0 / 10000) ** (np.arange(4) / 3.0)

    def embed(sigma):  # PositionalEmbedding [cos, sin] swapped to [sin, cos], then map_layer0 and SiLU
        e = np.concatenate([np.sin(sigma * freqs), np.cos(sigma * freqs)])
        return silu(W["map_layer0.weight"] @ e + W["map_layer0.bias"])

    b = h.shape[0]
    z = silu(h.reshape(b, 64).astype(np.float64) @ W["enc_layer0.weight"].T + W["enc_layer0.bias"])
    z = z @ W["enc_layer1.weight"].T + W["enc_layer1.bias"]
    f = np.concatenate([z, np.tile(embed(sigma_cur), (b, 1)), np.tile(embed(sigma_next), (b, 1))], axis=1)

    def head(name, width):
        if width == 0:
            return np.ones(b)
        return 2 * width * sigmoid(f @ W[name + ".weight"][0] + W[name + ".bias"][0]) + 1 - width

    r = sigmoid(f @ W["fc_r.weight"][0] + W["fc_r.bias"][0])
    return r, head("fc_scale_dir", a_d), head("fc_scale_time", a_t)


def check_predictor_forward(predictor, tensors, a_d, a_t, rtol=1e-4):
    """Runs the predictor's own forward (h, σ_i, σ_{i+1}) and compares r, c, a with what dsx will compute from
    the written tensors: catches a predictor version whose architecture or output ranges differ."""
    import torch
    g = torch.Generator().manual_seed(0)
    h = torch.randn(3, 8, 8, generator=g)
    for s_cur, s_next in ((80.0, 6.95), (1.29, 0.002)):
        try:
            with torch.no_grad():
                out = predictor(h, torch.tensor(s_cur), torch.tensor(s_next))
        except Exception as e:
            raise ExportError("the predictor's forward failed on a test input: {}: {}".format(type(e).__name__, e))
        out = list(out) if isinstance(out, (tuple, list)) else [out]
        names = ["r"] + (["c"] if a_d else []) + (["a"] if a_t else [])
        if len(out) != len(names):
            raise ExportError("the predictor returned {} outputs, expected {} ({})".format(
                len(out), len(names), ", ".join(names)))
        want = dict(zip(("r", "c", "a"), dsx_predictor_forward(tensors, a_d, a_t, h.numpy(), s_cur, s_next)))
        for name, value in zip(names, out):
            got = value.detach().cpu().double().numpy().reshape(-1)
            err = np.abs(got - want[name]).max() / max(np.abs(want[name]).max(), 1e-30)
            if not err <= rtol:
                raise ExportError("the predictor's {} at σ = ({}, {}) differs from dsx's formula by {:.3g} "
                                  "(relative): a predictor version dsx does not implement".format(
                                      name, s_cur, s_next, err))


def export_amed_predictor(predictor, out_path, sigma_min=None, sigma_max=None, scale_dir=None, scale_time=None):
    """Writes `predictor` (an official AMED_predictor or a module with its parameter names and attributes)
    as dsx's predictor file; returns {'tensors': ..., 'settings': dict, 'warnings': [...]}."""
    check_time_embedding(predictor)
    tensors = predictor_tensors(predictor)
    settings = predictor_settings(predictor, sigma_min, sigma_max, scale_dir, scale_time, tensors)
    check_predictor_forward(predictor, tensors, dict(settings)["scale_dir"], dict(settings)["scale_time"])
    notes = []
    guidance = getattr(predictor, "guidance_type", None)
    if guidance in ("cfg", "cg") and getattr(predictor, "guidance_rate", 1) not in (None, 1, 1.0):
        notes.append("the predictor was trained with guidance {} (rate {}); dsx has no conditioning yet, so "
                     "it runs on an unguided model".format(guidance, predictor.guidance_rate))
    if getattr(predictor, "M", None) is None:
        notes.append("the predictor has no M; m = 1 recorded (only the teacher's description uses it)")
    write_predictor_h5(out_path, tensors, settings)
    return {"tensors": tensors, "settings": dict(settings), "warnings": notes}


def dsx_solver_lines(out_path, s):
    """The dsx `schedule:` and `solver:` blocks that match the predictor's settings."""
    solver = "{{name: {}, afs: {}".format(s["student"], "true" if s["afs"] else "false")
    if s["student"] in ("ipndm", "dpmpp"):
        solver += ", max_order: {}".format(s["max_order"])
    if s["student"] == "dpmpp":
        solver += ", predict_x0: {}, lower_order_final: {}".format(
            "true" if s["predict_x0"] else "false", "true" if s["lower_order_final"] else "false")
    solver += ", amed: {{predictor: {}}}}}".format(out_path)
    return ["schedule: {{kind: {}, num_steps: {}, sigma_min: {!r}, sigma_max: {!r}, rho: {!r}}}".format(
        s["schedule_kind"], s["num_steps"], s["sigma_min"], s["sigma_max"], s["rho"]), "solver: " + solver]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("snapshot", help="network-snapshot-*.pkl (or a .pt with key 'model')")
    p.add_argument("out", help="output predictor file (.h5)")
    p.add_argument("--amed-repo", metavar="PATH", help="diff-sampler's amed-solver-main (for unpickling)")
    p.add_argument("--key", default="model", help="the snapshot's entry holding the predictor (default: model)")
    p.add_argument("--sigma-min", type=float, help="the model's σ_min (default 0.002 for EDM datasets)")
    p.add_argument("--sigma-max", type=float, help="the model's σ_max (default 80 for EDM datasets)")
    p.add_argument("--scale-dir", type=float, help="override a_d (for predictors that do not store it)")
    p.add_argument("--scale-time", type=float, help="override a_t (for predictors that do not store it)")
    a = p.parse_args()
    predictor = load_snapshot(a.snapshot, a.amed_repo, a.key)
    info = export_amed_predictor(predictor, a.out, a.sigma_min, a.sigma_max, a.scale_dir, a.scale_time)
    s = info["settings"]
    count = sum(v.size for v in info["tensors"].values())
    print("exported AMED predictor ({} parameters; student {}, teacher {}, {} N={}, afs {}) -> {}".format(
        count, s["student"], s["teacher"], s["schedule_kind"], s["num_steps"], bool(s["afs"]), a.out))
    for note in info["warnings"]:
        print("warning: " + note)
    print("\ndsx config:")
    for line in dsx_solver_lines(a.out, s):
        print("  " + line)


if __name__ == "__main__":
    run_cli(main)
