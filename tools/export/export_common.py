"""Shared pieces of the dsx exporters (tools/export/export_*.py).

dsx loads a TorchScript file (``model: {kind: torchscript, file: net.pt}``) and calls

* ``forward(x, label)``: ``x`` is ``[B, *shape]``, ``label`` is ``[B]`` (σ for ``output: denoised``, the
  network's own time input for ``output: eps|x0|v``), both in the run's dtype; it must return a tensor of
  x's shape and dtype;
* optionally a features method ``NAME(x, label) -> (output, feature map [B, C, 8, 8])`` (the AMED
  predictor's input);
* for a class-conditional network (``condition: {num_classes: N}``), both with a third argument
  ``class_labels`` ``[B, N]``: one-hot, in x's dtype;
* optional module attributes ``img_shape`` (list of ints), ``sigma_min`` / ``sigma_max`` (floats).

dsx converts the module with ``module.to(float32|float64)`` and calls it with any batch size, so an export
must not bake a dtype or a batch size into its graph. This file builds such modules from an eager network:

* a *tracee* (:class:`Tracee`) adapts the network to ``forward(x, label)`` and, when asked, captures a
  submodule's output with a forward hook for ``features(x, label)``;
* :func:`trace_single` traces it once (in float64) and wraps the trace in a small scripted module that
  casts the output back to the input's dtype and carries the attributes; :func:`trace_per_dtype` traces a
  float64 and a float32 copy and dispatches on the input's dtype (for networks whose code reads the
  parameters' dtype, e.g. diffusers' ``t_emb.to(self.dtype)``, which a trace turns into a constant);
* :func:`verify_export` reloads the saved file and compares it with the eager network in float64 and in
  float32 on batch sizes other than the traced one, and checks the attributes and the feature map.

Everything raises :class:`ExportError` with a message meant for the user; :func:`run_cli` turns it into
``error: ...`` and exit status 1.
"""

import contextlib
import copy
import math
import os
import pickle
import sys
import warnings

try:
    import torch
    from torch import nn
except ImportError as e:  # pragma: no cover - depends on the user's environment
    sys.exit(
        "error: PyTorch is not importable from {} ({}). Run the exporter with the Python that has your "
        "checkpoint's PyTorch (on Debian: apt-get install python3-torch, then /usr/bin/python3).".format(
            sys.executable, e))

from typing import Tuple

TRACE_BATCH = 2          # examples used for tracing
CHECK_BATCHES = (3, 1)   # batch sizes of the checks: differ from TRACE_BATCH
FLOAT64_RTOL = 1e-7      # same computation, same dtype: only rounding-level differences are tolerated
FLOAT32_RTOL = 1e-4


class ExportError(Exception):
    """A problem the user has to fix (wrong checkpoint, unsupported network, failed check)."""


# ---- small utilities ------------------------------------------------------------------------------------

# How dsx writes HDF5 (store/h5.cpp), so files written here are files dsx could have written: the 1.8 file
# format (metadata checksums) and chunked datasets with a Fletcher-32 checksum, whole leading slices of up to
# 2^22 elements per chunk.
H5_LIBVER = ("v108", "latest")


def dsx_chunks(shape):
    if len(shape) == 0 or 0 in shape:
        return None
    inner = max(1, math.prod(shape[1:]))
    return (min(max(1, (1 << 22) // inner), shape[0]),) + tuple(shape[1:])


def create_dsx_dataset(f, name, data):
    """A dataset as dsx writes it (a checksum per chunk; no chunks for scalars)."""
    chunks = dsx_chunks(data.shape)
    if chunks is None:
        return f.create_dataset(name, data=data)
    return f.create_dataset(name, data=data, chunks=chunks, fletcher32=True)


def parse_shape(text):
    """'3,32,32' or '3x32x32' or '[3, 32, 32]' -> [3, 32, 32]."""
    cleaned = text.strip().strip("[]()").replace("x", ",").replace(" ", "")
    try:
        shape = [int(v) for v in cleaned.split(",") if v]
    except ValueError:
        raise ExportError("--shape {!r}: expected integers such as 3,32,32".format(text))
    if not shape or any(v <= 0 for v in shape):
        raise ExportError("--shape {!r}: expected positive integers such as 3,32,32".format(text))
    return shape


def submodule(root, path, what="module"):
    """root.a.b['8x8_block3'] written as 'a.b.8x8_block3' (ModuleDict keys and ModuleList indices work)."""
    if path in ("", "."):
        return root
    try:
        return root.get_submodule(path)
    except AttributeError:
        names = [n for n, _ in root.named_modules() if n]
        hint = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise ExportError("the {} has no submodule '{}' (submodules: {})".format(what, path, hint or "none"))


def first_float_dtype(module):
    """The dtype of the module's first floating parameter or buffer (float32 when it has none)."""
    for t in list(module.parameters()) + list(module.buffers()):
        if t.is_floating_point():
            return t.dtype
    return torch.float32


def add_import_path(path, flag):
    """Puts a source checkout (e.g. the EDM repository for its pickles) first on sys.path."""
    if path is None:
        return
    if not os.path.isdir(path):
        raise ExportError("{} {}: not a directory".format(flag, path))
    sys.path.insert(0, os.path.abspath(path))


def load_checkpoint(path, key, repo, flag, repo_hint):
    """data[key] of a pickled dict (.pkl) or torch.save'd one (.pt, .pth) whose classes import from `repo`."""
    add_import_path(repo, flag)
    try:
        if path.endswith((".pt", ".pth")):
            data = torch.load(path, map_location="cpu")
        else:
            with open(path, "rb") as f:
                data = pickle.load(f)
    except FileNotFoundError:
        raise ExportError("{}: no such file".format(path))
    except ModuleNotFoundError as e:
        raise ExportError("{}: unpickling needs the module '{}': pass {} PATH ({})".format(path, e.name, flag,
                                                                                             repo_hint))
    if not isinstance(data, dict) or key not in data:
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise ExportError("{}: expected a dict with key '{}', found {}".format(path, key, keys))
    return data[key]


def one_hot(classes, num_classes, dtype, device="cpu"):
    """[len(classes), num_classes] one-hot rows in `dtype` on `device` (dsx's class_labels)."""
    return torch.eye(num_classes, dtype=torch.float64)[list(classes)].to(device, dtype)


def example_inputs(shape, batch, labels, dtype, seed, device="cpu", num_classes=0):
    """The call's arguments in `dtype` on `device`: x ~ N(0, I) [batch, *shape], the label vector (distinct
    per sample) and, with num_classes > 0, one-hot class labels (class (seed + i) mod num_classes)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn([batch] + list(shape), generator=g, dtype=torch.float64).to(device, dtype)
    lab = torch.tensor([labels[i % len(labels)] for i in range(batch)], dtype=torch.float64).to(device, dtype)
    if num_classes <= 0:
        return x, lab
    return x, lab, one_hot([(seed + i) % num_classes for i in range(batch)], num_classes, dtype, device)


def sigma_examples(sigma_min, sigma_max, count=5):
    """Log-spaced σ values inside [sigma_min, sigma_max], largest first, so every sample has its own σ."""
    lo, hi = math.log(sigma_min), math.log(sigma_max)
    return [math.exp(hi + (lo - hi) * (i + 0.5) / count) for i in range(count)]


# ---- the tracee: the eager network as forward(x, label) / features(x, label) ----------------------------

class Tracee(nn.Module):
    """Adapts `net` to dsx's calling convention for tracing.

    call(net, x, label) computes the output (e.g. ``net(x, sigma)`` or ``net(x, t).sample``). The features
    method is either the output of the submodule `feature_path` of `net`, captured with a forward hook while
    `call` runs, or `net.<feature_method>(x, label)` returning (output, map); with neither there is none.
    Further arguments (a conditional network's class_labels) are passed through to `call`.
    """

    def __init__(self, net, call, feature_path=None, feature_method=None):
        super().__init__()
        if feature_path is not None and feature_method is not None:
            raise ExportError("internal: give a feature block or a feature method, not both")
        self.net = net
        self._call = call
        self._feature_path = feature_path
        self._feature_method = feature_method

    def forward(self, x, label, *extra):
        return self._call(self.net, x, label, *extra)

    def features(self, x, label, *extra):
        if self._feature_method is not None:
            result = getattr(self.net, self._feature_method)(x, label, *extra)
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise ExportError("{}(x, label) must return (output, feature map), got {}".format(
                    self._feature_method, type(result).__name__))
            return result[0], result[1]
        if self._feature_path is None:
            raise ExportError("internal: this export has no features method")
        block = submodule(self.net, self._feature_path, "network")
        captured = []
        handle = block.register_forward_hook(lambda module, inputs, output: captured.append(output))
        try:
            out = self.forward(x, label, *extra)
        finally:
            handle.remove()
        if not captured:
            raise ExportError("the feature block '{}' was not called by the network's forward".format(
                self._feature_path))
        fmap = captured[-1]
        if isinstance(fmap, (tuple, list)):  # blocks that return (hidden states, skips)
            fmap = fmap[0]
        if hasattr(fmap, "sample"):
            fmap = fmap.sample
        return out, fmap

    @property
    def has_features(self):
        return self._feature_path is not None or self._feature_method is not None

    @property
    def feature_source(self):
        if self._feature_method is not None:
            return "net.{}()".format(self._feature_method)
        return None if self._feature_path is None else "net.{}".format(self._feature_path)


# ---- scripted wrappers (they hold the traces and the attributes dsx reads) -------------------------------
# Small classes rather than one with flags: TorchScript compiles a method only if every attribute it uses
# exists and fixes each method's arguments, so the features method, the dtype dispatch and the class-label
# argument are separate classes.

class TracedExport(nn.Module):
    """forward = the trace, cast back to the input's dtype."""

    def __init__(self, traced):
        super().__init__()
        self.net = traced

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        return self.net(x, label).to(x.dtype)


class TracedExportFeatures(TracedExport):
    """TracedExport with features(x, label) -> (output, feature map), both cast back to the input's dtype."""

    @torch.jit.export
    def features(self, x: torch.Tensor, label: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        out, fmap = self.net.features(x, label)
        return out.to(x.dtype), fmap.to(x.dtype)


class TracedExportConditional(nn.Module):
    """TracedExport of a class-conditional network: forward(x, label, class_labels [B, num_classes])."""

    def __init__(self, traced):
        super().__init__()
        self.net = traced

    def forward(self, x: torch.Tensor, label: torch.Tensor, class_labels: torch.Tensor) -> torch.Tensor:
        return self.net(x, label, class_labels).to(x.dtype)


class TracedExportConditionalFeatures(TracedExportConditional):
    """TracedExportConditional with features(x, label, class_labels) -> (output, feature map)."""

    @torch.jit.export
    def features(self, x: torch.Tensor, label: torch.Tensor,
                 class_labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        out, fmap = self.net.features(x, label, class_labels)
        return out.to(x.dtype), fmap.to(x.dtype)


class DispatchExport(nn.Module):
    """One trace per dtype: float64 inputs go to net64, everything else to net32 (in float32)."""

    def __init__(self, net64, net32):
        super().__init__()
        self.net64 = net64
        self.net32 = net32

    def forward(self, x: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float64:
            return self.net64(x, label.to(torch.float64))
        return self.net32(x.to(torch.float32), label.to(torch.float32)).to(x.dtype)


class DispatchExportFeatures(DispatchExport):
    """DispatchExport with the features method."""

    @torch.jit.export
    def features(self, x: torch.Tensor, label: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if x.dtype == torch.float64:
            out, fmap = self.net64.features(x, label.to(torch.float64))
        else:
            out, fmap = self.net32.features(x.to(torch.float32), label.to(torch.float32))
        return out.to(x.dtype), fmap.to(x.dtype)


def set_attributes(module, img_shape=None, sigma_min=None, sigma_max=None):
    """Plain attributes of the (not yet scripted) wrapper; scripting keeps them with inferred types."""
    if img_shape is not None:
        module.img_shape = [int(v) for v in img_shape]
    if sigma_min is not None:
        module.sigma_min = float(sigma_min)
    if sigma_max is not None:
        module.sigma_max = float(sigma_max)
    return module


class _NoGradCtx:
    """The `ctx` of an autograd.Function whose forward runs as plain tensor code (nothing to save)."""

    needs_input_grad = ()

    def save_for_backward(self, *tensors):
        pass

    def mark_dirty(self, *tensors):
        pass

    def mark_non_differentiable(self, *tensors):
        pass

    def set_materialize_grads(self, value):
        pass


def _plain_function(function):
    """A stand-in for a custom torch.autograd.Function class whose apply() runs its forward directly."""
    new_style = getattr(function, "setup_context", None) is not getattr(torch.autograd.Function,
                                                                          "setup_context", None)

    class Plain:
        @staticmethod
        def apply(*args):
            return function.forward(*args) if new_style else function.forward(_NoGradCtx(), *args)

    Plain.__name__ = Plain.__qualname__ = function.__name__
    return Plain


@contextlib.contextmanager
def inline_autograd_functions(net):
    """While tracing, replaces the custom autograd.Function classes that the network's own (non-torch)
    modules refer to by name (e.g. EDM's AttentionOp) with plain functions running the same forward: a trace
    would record them as Python calls, which torch.jit.save cannot store. Restored afterwards. Autograd still
    reaches the inputs through the recorded tensor operations."""
    patched = []
    modules = set()
    for m in net.modules():
        for cls in type(m).__mro__:
            mod = sys.modules.get(cls.__module__)
            if mod is not None and cls.__module__ != "torch" and not cls.__module__.startswith("torch."):
                modules.add(mod)
    try:
        for mod in modules:
            for name, value in list(vars(mod).items()):
                if (isinstance(value, type) and issubclass(value, torch.autograd.Function)
                        and getattr(value, "forward", None) is not torch.autograd.Function.forward):
                    patched.append((mod, name, value))
                    setattr(mod, name, _plain_function(value))
        yield [name for _, name, _ in patched]
    finally:
        for mod, name, value in patched:
            setattr(mod, name, value)


def _trace(tracee, shape, labels, dtype, device, num_classes=0):
    args = example_inputs(shape, TRACE_BATCH, labels, dtype, seed=1, device=device, num_classes=num_classes)
    methods = {"forward": args}
    if tracee.has_features:
        methods["features"] = args
    try:
        # TracerWarnings (Python ints, branches) are expected; verify_export checks what matters.
        with torch.no_grad(), warnings.catch_warnings(), inline_autograd_functions(tracee):
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            return torch.jit.trace_module(tracee, methods, check_trace=False)
    except ExportError:
        raise
    except Exception as e:
        raise ExportError("tracing the network in {} failed: {}: {}".format(
            str(dtype).replace("torch.", ""), type(e).__name__, e))


def _script(wrapper):
    try:
        return torch.jit.script(wrapper)
    except Exception as e:
        raise ExportError("internal: scripting the export wrapper failed: {}".format(e))


def trace_single(tracee, shape, labels, attrs, device="cpu", num_classes=0):
    """Traces a float64 copy of `tracee` once (batch TRACE_BATCH) on `device`; the graph must be
    dtype-agnostic (verify_export checks float32). With num_classes > 0 the export takes one-hot class_labels
    [B, num_classes] as a third argument. Returns the scripted export module (float64)."""
    t64 = copy.deepcopy(tracee).to(device, torch.float64).eval()
    traced = _trace(t64, shape, labels, torch.float64, device, num_classes)
    if num_classes > 0:
        wrapper = (TracedExportConditionalFeatures if tracee.has_features else TracedExportConditional)(traced)
    else:
        wrapper = TracedExportFeatures(traced) if tracee.has_features else TracedExport(traced)
    return _script(set_attributes(wrapper, **attrs))


def trace_per_dtype(tracee, shape, labels, attrs, device="cpu"):
    """Traces a float64 and a float32 copy of `tracee` on `device` and dispatches on the input's dtype
    (the parameters are stored twice, but code that bakes dtypes into the trace stays correct)."""
    t64 = copy.deepcopy(tracee).to(device, torch.float64).eval()
    t32 = copy.deepcopy(tracee).to(device, torch.float32).eval()
    n64 = _trace(t64, shape, labels, torch.float64, device)
    n32 = _trace(t32, shape, labels, torch.float32, device)
    wrapper = DispatchExportFeatures(n64, n32) if tracee.has_features else DispatchExport(n64, n32)
    return _script(set_attributes(wrapper, **attrs))


def save_module(module, out_path, dtype=None):
    """torch.jit.save with the parameters on the CPU, optionally converted first (e.g. back to the
    checkpoint's float32); written to a temporary name and renamed."""
    module = module.to("cpu") if dtype is None else module.to("cpu", dtype)
    for p in module.parameters():
        p.requires_grad_(False)
    out_dir = os.path.dirname(os.path.abspath(out_path))
    if not os.path.isdir(out_dir):
        raise ExportError("cannot write {}: directory {} does not exist".format(out_path, out_dir))
    tmp = out_path + ".tmp"
    try:
        torch.jit.save(module, tmp)
    except Exception as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ExportError("torch.jit.save failed: {}".format(first))
    os.replace(tmp, out_path)  # never leave a half-written file at out_path


def save_verified(module, out_path, verify, dtype=None):
    """Saves `module` next to `out_path`, runs verify(path) (raising on a failed check) and only then moves
    the file to `out_path`, so a failed export never leaves a file there. Returns verify's result."""
    pending = out_path + ".unverified"
    try:
        save_module(module, pending, dtype)
        result = verify(pending)
        os.replace(pending, out_path)
        return result
    finally:
        if os.path.exists(pending):
            os.remove(pending)


# ---- verification ---------------------------------------------------------------------------------------

def _max_rel_diff(a, b):
    """max |a − b| / max(max |b|, 1e-30): a relative error on the scale of the reference."""
    a = a.detach().to(torch.float64)
    b = b.detach().to(torch.float64)
    scale = max(float(b.abs().max()), 1e-30)
    return float((a - b).abs().max()) / scale


def _compare(name, got, want, dtype, rtol):
    if not isinstance(got, torch.Tensor):
        raise ExportError("{}: the export returned {}, not a tensor".format(name, type(got).__name__))
    if tuple(got.shape) != tuple(want.shape):
        raise ExportError("{}: the export returned shape {}, the network {}".format(
            name, list(got.shape), list(want.shape)))
    if got.dtype != dtype:
        raise ExportError("{}: the export returned {} for {} input".format(name, got.dtype, dtype))
    if not bool(torch.isfinite(got).all()):
        raise ExportError("{}: the export returned NaN/Inf".format(name))
    err = _max_rel_diff(got, want)
    if not err <= rtol:
        raise ExportError("{}: the export differs from the eager network by {:.3g} (relative, tolerance {:g}); "
                          "the trace probably baked in a batch size, dtype or data-dependent branch".format(
                              name, err, rtol))
    return err


def _run_export(method, args, what):
    """Calls the loaded export; an interpreter error becomes an ExportError naming the call."""
    try:
        return method(*args)
    except Exception as e:
        lines = [l for l in str(e).splitlines() if l.strip()]
        raise ExportError("{}: the export fails: {} (a dtype or batch size baked into the trace?)".format(
            what, lines[-1] if lines else type(e).__name__))


def verify_export(out_path, tracee, shape, labels, attrs=None, batches=CHECK_BATCHES, device="cpu",
                  num_classes=0):
    """Reloads `out_path` and checks it against the eager `tracee`: float64 and float32 (after
    module.to(dtype), as dsx converts), batch sizes `batches`, the features method (same output, a
    [B, C, 8, 8] map equal to the hooked one) and the attributes. With num_classes > 0 the calls take
    one-hot class labels, and other labels (each class + 1) must give the eager network's output again, and
    in float64 a different one (the labels reach the network, not a constant of the trace). Returns a list
    of report lines."""
    report = []
    try:
        loaded = torch.jit.load(out_path)
    except Exception as e:
        raise ExportError("{}: cannot be loaded back: {}".format(out_path, e))
    for key, value in (attrs or {}).items():
        if value is None:
            continue
        if not hasattr(loaded, key):
            raise ExportError("{}: attribute {} missing after saving".format(out_path, key))
        got = getattr(loaded, key)
        if (list(got) if key == "img_shape" else got) != value:
            raise ExportError("{}: attribute {} = {!r}, expected {!r}".format(out_path, key, got, value))
    for dtype, rtol in ((torch.float64, FLOAT64_RTOL), (torch.float32, FLOAT32_RTOL)):
        exported = torch.jit.load(out_path, map_location=device).to(dtype).eval()
        eager = copy.deepcopy(tracee).to(device, dtype).eval()
        tag = str(dtype).replace("torch.", "")
        for b in batches:
            args = example_inputs(shape, b, labels, dtype, seed=100 + b, device=device, num_classes=num_classes)
            with torch.no_grad():
                want = eager(*args)
                got = _run_export(exported.forward, args, "forward {} batch {}".format(tag, b))
                err = _compare("forward {} batch {}".format(tag, b), got, want, dtype, rtol)
                line = "forward {} batch {}: max relative difference {:.2e}".format(tag, b, err)
                if num_classes > 1:
                    other = args[:2] + (args[2].roll(1, dims=1),)
                    what = "forward {} batch {}, other class labels".format(tag, b)
                    got_other = _run_export(exported.forward, other, what)
                    _compare(what, got_other, eager(*other), dtype, rtol)
                    change = _max_rel_diff(got_other, got)
                    if dtype == torch.float64 and not change > 10 * rtol:
                        raise ExportError("{}: the output does not depend on class_labels (relative change "
                                          "{:.3g}): the network ignores its label input".format(what, change))
                    line += "; other labels change it by {:.2e}".format(change)
                if tracee.has_features:
                    want_out, want_map = eager.features(*args)
                    got_out, got_map = _run_export(exported.features, args,
                                                   "features {} batch {}".format(tag, b))
                    _compare("features output {} batch {}".format(tag, b), got_out, want_out, dtype, rtol)
                    if got_map.dim() != 4 or got_map.shape[0] != b or tuple(got_map.shape[2:]) != (8, 8):
                        raise ExportError("the feature map is {}, dsx needs [B, C, 8, 8] (choose a block at "
                                          "8x8 resolution)".format(list(got_map.shape)))
                    _compare("feature map {} batch {}".format(tag, b), got_map, want_map.to(dtype), dtype, rtol)
                    line += "; features {}".format(list(got_map.shape))
            report.append(line)
    return report


def check_feature_map_shape(tracee, shape, labels, device="cpu", num_classes=0):
    """Runs the eager features once and refuses a map that is not [B, C, 8, 8] (before any tracing)."""
    args = example_inputs(shape, 1, labels, first_float_dtype(tracee), seed=7, device=device,
                          num_classes=num_classes)
    with torch.no_grad():
        _, fmap = tracee.features(*args)
    if not isinstance(fmap, torch.Tensor) or fmap.dim() != 4 or tuple(fmap.shape[2:]) != (8, 8):
        got = list(fmap.shape) if isinstance(fmap, torch.Tensor) else type(fmap).__name__
        raise ExportError("the features ({}) give {}; dsx's AMED predictor needs an 8x8 map "
                          "[B, C, 8, 8]: name a block at 8x8 resolution".format(tracee.feature_source, got))
    return list(fmap.shape)


# ---- CLI ------------------------------------------------------------------------------------------------

def run_cli(main):
    """Runs main() and turns an ExportError into 'error: ...' on stderr and exit status 1."""
    try:
        main()
    except ExportError as e:
        sys.stderr.write("error: {}\n".format(e))
        sys.exit(1)


def yaml_value(v):
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(yaml_value(e) for e in v) + "]"
    return str(v)


def print_config(lines):
    """Prints the dsx config lines for the exported module."""
    print("\ndsx config:")
    for line in lines:
        print("  " + line)
