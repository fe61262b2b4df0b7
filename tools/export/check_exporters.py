#!/usr/bin/env python3
"""Self-check of the dsx exporters (tools/export/export_*.py), in Python and through the dsx binary.

  python3 tools/export/check_exporters.py [--dsx build/bin/dsx] [--workdir DIR]

It builds small, seeded, randomly initialised stand-ins with the structure and interface of each source
(written here, a few channels each):
  * EDMPrecond with a SongUNet (net.model.enc['8x8_block3']) and with a DhariwalUNet ('8x8_block2'):
    EDM's float32 preconditioning, EDM-style layers that cast their weights to the input's dtype; and a
    class-conditional DhariwalUNet (label_dim 4, one-hot labels through map_label, as ImageNet-64's);
  * a diffusers UNet2DModel: config, time_proj, t_emb.to(self.dtype), down/mid/up blocks, output `.sample`;
  * two plain modules: one scriptable (denoiser with a features method), one not (a VP ε network whose
    features come from a submodule);
  * an AMED_predictor with the official parameter names and attributes;
  * dsx's own UNet (export_dsx_unet.py): HDF5 files in dsx's save_unet layout written here from the twin
    with random, all non-zero weights (3x32x32, levels 32/16/8; a class-conditional 2x16x16), bad files,
    and models/fashion_mnist_unet_light.h5 when it is there;
runs each exporter's function and checks
  * in Python: the TorchScript file equals the eager stand-in on batches other than the traced one
    (float64: relative/absolute 1e-10; float32 after .to(torch.float32): 1e-5), the features method returns
    the hooked [B, C, 8, 8] map, the attributes, and gradients reach x (1e-5: EDM differentiates in float32);
    a conditional export takes the one-hot labels as a third argument and other labels change its output;
  * through dsx: `dsx sample` (Euler, polynomial schedule, 4 points, float64) equals an Euler loop on the
    eager stand-in to 1e-10 relative (VP networks: through dsx's VP adapter, x_vp = x/sqrt(1+σ²) and dsx's
    time label, D = x − σ·ε; a conditional network: `condition: {num_classes: 4}`, with the labels dsx
    draws for seeds 0..B−1, the rows of the latents file, and a run on `latents: {seeds: 0-2}`), and the
    predictor file loads and samples (AMED-Solver on the amed_toy testbed
    and on the exported EDM network) and matches the stand-in's state dict and dsx's own file layout
    (a predictor written by `dsx train-amed`); the stand-in's forward and the exporter's copy of dsx's
    formula reproduce the official golden values of docs/amed.md §12.2;
  * dsx UNet: `dsx sample` with `model: {kind: unet}` and with the export agree (Euler, float64 1e-10 and
    float32 1e-5; AMED-Solver, which reads the features, float64 1e-10), the C++ UNet equals the Python
    twin's Euler loop (1e-10), features() is the last 8x8 encoder block, and a wrong format attribute or a
    missing, extra or misshapen dataset is refused with a message naming the file.
Prints `PASS name` / `FAIL name: why` per check and `N passed, M failed`; exit status 0 iff M == 0.
References run LibTorch at one thread, as dsx does (float32 reductions depend on the thread count).
When `python3` has no torch/h5py (a pyenv or venv interpreter ahead of Debian's), the script re-runs itself
with /usr/bin/python3 (a note on stderr; DSX_CHECK_REEXEC=1 in the environment turns this off).
"""

import os
import sys


sys.dont_write_bytecode = True  # no __pycache__ in the source tree from importing the exporters
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from system_python import CheckFailed, CheckRunner, expect, find_dsx, reexec_with_system_python  # noqa: E402

reexec_with_system_python()

import argparse  # noqa: E402
import bisect  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from collections import OrderedDict  # noqa: E402
from typing import Tuple  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_common import H5_LIBVER, ExportError, Tracee, create_dsx_dataset, trace_single, verify_export  # noqa: E402
from export_edm import export_edm  # noqa: E402
from export_diffusers import call_unet, export_diffusers, t_examples  # noqa: E402
from export_module import export_module  # noqa: E402
from export_amed_predictor import _set_string_attr, dsx_predictor_forward, export_amed_predictor  # noqa: E402
from export_dsx_unet import FORMAT as DSX_UNET_FORMAT, DsxUNet, DsxUNetFeatures, export_dsx_unet  # noqa: E402

# One thread, as dsx runs LibTorch: float32 reductions (EDM computes in float32) depend on the thread count.
torch.set_num_threads(1)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOL64 = 1e-10  # float64: relative/absolute
TOL32 = 1e-5   # float32 after .to(torch.float32)
SCHEDULE = {"num_steps": 4, "sigma_min": 0.002, "sigma_max": 80.0, "rho": 7.0}
# DDPM's β table starts at σ̂ ≈ 0.0100 (t = 1/1000): dsx refuses σ below a VP process's range.
VP_DISCRETE_SCHEDULE = dict(SCHEDULE, sigma_min=0.02)
LATENT_BATCH = 3
EDM_SHAPE = [3, 32, 32]  # the EDM stand-ins: CIFAR-10 geometry (32 -> 16 -> 8), a few channels


# =========================================================================================================
# Stand-ins. Structure and interface of the sources, a few channels, seeded random weights.
# =========================================================================================================

# ---- EDM (NVlabs/edm training/networks.py): layers cast their weights to the input's dtype ---------------

class EdmConv(nn.Module):
    def __init__(self, cin, cout, kernel):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel) / math.sqrt(cin * kernel * kernel))
        self.bias = nn.Parameter(0.1 * torch.randn(cout))
        self.padding = kernel // 2

    def forward(self, x):
        return F.conv2d(x, self.weight.to(x.dtype), self.bias.to(x.dtype), padding=self.padding)


class EdmLinear(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / math.sqrt(cin))  # [out, in]
        self.bias = nn.Parameter(0.1 * torch.randn(cout))

    def forward(self, x):
        return x @ self.weight.to(x.dtype).t() + self.bias.to(x.dtype)


class EdmGroupNorm(nn.Module):
    def __init__(self, channels, groups=4):
        super().__init__()
        self.groups = groups
        self.weight = nn.Parameter(1 + 0.1 * torch.randn(channels))
        self.bias = nn.Parameter(0.1 * torch.randn(channels))

    def forward(self, x):
        return F.group_norm(x, self.groups, self.weight.to(x.dtype), self.bias.to(x.dtype), eps=1e-5)


class EdmPositionalEmbedding(nn.Module):
    """Sinusoidal embedding of a per-sample scalar: [cos(x f), sin(x f)], f = (1/max_positions)^(k/(C/2 − e))."""

    def __init__(self, num_channels, max_positions=10000, endpoint=False):
        super().__init__()
        self.num_channels, self.max_positions, self.endpoint = num_channels, max_positions, endpoint

    def forward(self, x):
        half = self.num_channels // 2
        freqs = torch.arange(0, half, dtype=torch.float32, device=x.device) / (half - (1 if self.endpoint else 0))
        freqs = (1 / self.max_positions) ** freqs
        x = torch.outer(x, freqs.to(x.dtype))
        return torch.cat([x.cos(), x.sin()], dim=1)


class AttentionOp(torch.autograd.Function):
    """Attention weights softmax_k(q·k/sqrt(C)) in float32 as a custom autograd.Function, as EDM has it
    (a trace records such a Function as a Python call that torch.jit.save cannot store)."""

    @staticmethod
    def forward(ctx, q, k):
        w = torch.einsum("ncq,nck->nqk", q.to(torch.float32), (k / math.sqrt(k.shape[1])).to(torch.float32))
        w = w.softmax(dim=2).to(q.dtype)
        ctx.save_for_backward(q, k, w)
        return w

    @staticmethod
    def backward(ctx, dw):
        q, k, w = ctx.saved_tensors
        ds = w * (dw - (dw * w).sum(dim=2, keepdim=True)) / math.sqrt(k.shape[1])
        return torch.einsum("nqk,nck->ncq", ds, k), torch.einsum("nqk,ncq->nck", ds, q)


class EdmBlock(nn.Module):
    """GroupNorm → SiLU → conv, plus the embedding's per-channel shift, GroupNorm → SiLU → conv, skip;
    optionally one-head self-attention through AttentionOp."""

    def __init__(self, cin, cout, emb_channels, resample=None, attention=False):
        super().__init__()
        self.resample = resample
        self.norm0, self.conv0 = EdmGroupNorm(cin), EdmConv(cin, cout, 3)
        self.affine = EdmLinear(emb_channels, cout)
        self.norm1, self.conv1 = EdmGroupNorm(cout), EdmConv(cout, cout, 3)
        self.skip = EdmConv(cin, cout, 1) if cin != cout else None
        if attention:
            self.norm2, self.qkv, self.proj = EdmGroupNorm(cout), EdmConv(cout, 3 * cout, 1), EdmConv(cout, cout, 1)
        self.attention = attention

    def forward(self, x, emb):
        if self.resample == "down":
            x = F.avg_pool2d(x, 2)
        elif self.resample == "up":
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        h = self.conv0(F.silu(self.norm0(x)))
        h = h + self.affine(emb).reshape(x.shape[0], -1, 1, 1)
        h = self.conv1(F.silu(self.norm1(h)))
        h = h + (self.skip(x) if self.skip is not None else x)
        if self.attention:
            q, k, v = self.qkv(self.norm2(h)).reshape(h.shape[0], h.shape[1], 3, -1).unbind(2)
            w = AttentionOp.apply(q, k)
            a = torch.einsum("nqk,nck->ncq", w, v)
            h = h + self.proj(a.reshape(*h.shape))
        return h


class _EdmToyUNet(nn.Module):
    """A U-Net in EDM's layout: enc/dec ModuleDicts keyed '<res>x<res>_<kind>', resolutions halving down to 8x8
    ('<r>x<r>_conv' at the top, '<r>x<r>_down' entering a level, then '<r>x<r>_block<i>'); attention (through
    AttentionOp) in the 16x16 encoder block, as the CIFAR-10 DDPM++ network has it."""

    def __init__(self, img_resolution, in_channels, out_channels, label_dim=0, blocks_8x8=4, model_channels=8,
                 endpoint=False):
        super().__init__()
        c, emb = model_channels, 2 * model_channels
        self.label_dim = label_dim
        self.map_noise = EdmPositionalEmbedding(c, endpoint=endpoint)
        self.map_layer0, self.map_layer1 = EdmLinear(c, emb), EdmLinear(emb, emb)
        self.levels = [img_resolution >> i for i in range(int(math.log2(img_resolution // 8)) + 1)]  # 32, 16, 8
        width = {r: c if r == img_resolution else 2 * c for r in self.levels}
        self.enc = nn.ModuleDict()
        for r in self.levels:
            key = "{0}x{0}_".format(r)
            if r == img_resolution:
                self.enc[key + "conv"] = EdmConv(in_channels, c, 3)
            else:
                self.enc[key + "down"] = EdmBlock(width[2 * r], width[r], emb, "down")
            for i in range(blocks_8x8 if r == 8 else 1):
                self.enc[key + "block{}".format(i)] = EdmBlock(width[r], width[r], emb, attention=(r == 16))
        self.dec = nn.ModuleDict()
        self.dec["8x8_block0"] = EdmBlock(width[8], width[8], emb)
        for r in self.levels[-2::-1]:  # 16, 32: upsample, then merge the encoder's skip
            key = "{0}x{0}_".format(r)
            self.dec[key + "up"] = EdmBlock(width[r // 2], width[r], emb, "up")
            self.dec[key + "block0"] = EdmBlock(2 * width[r], width[r], emb)
        self.out_norm, self.out_conv = EdmGroupNorm(c), EdmConv(c, out_channels, 3)
        self.map_label = None
        if label_dim:  # EDM: Linear(label_dim, emb), weights of unit scale, added before the last SiLU
            self.map_label = EdmLinear(label_dim, emb)
            self.map_label.weight.data *= math.sqrt(label_dim)

    def forward(self, x, noise_labels, class_labels=None):
        emb = self.map_noise(noise_labels)
        emb = emb.reshape(emb.shape[0], 2, -1).flip(1).reshape(*emb.shape)  # swap sin/cos
        emb = self.map_layer1(F.silu(self.map_layer0(emb)))
        if self.map_label is not None:
            emb = emb + self.map_label(class_labels)
        emb = F.silu(emb)
        skips = {}
        for name, block in self.enc.items():
            x = block(x) if name.endswith("_conv") else block(x, emb)
            skips[name.split("_")[0]] = x  # the last block output of each resolution
        for name, block in self.dec.items():
            if name.endswith("block0") and not name.startswith("8x8"):
                x = torch.cat([x, skips[name.split("_")[0]]], dim=1)
            x = block(x, emb)
        return self.out_conv(F.silu(self.out_norm(x)))


class SongUNet(_EdmToyUNet):
    def __init__(self, **kw):
        super().__init__(blocks_8x8=4, endpoint=False, **kw)


class DhariwalUNet(_EdmToyUNet):
    def __init__(self, **kw):
        super().__init__(blocks_8x8=3, endpoint=True, **kw)


class EDMPrecond(nn.Module):
    """EDM's preconditioning: D = c_skip x + c_out F(c_in x, ln(σ)/4), computed in float32."""

    def __init__(self, img_resolution, img_channels, label_dim=0, use_fp16=False, sigma_min=0.0,
                 sigma_max=float("inf"), sigma_data=0.5, model_type="SongUNet"):
        super().__init__()
        self.img_resolution, self.img_channels, self.label_dim = img_resolution, img_channels, label_dim
        self.use_fp16, self.sigma_min, self.sigma_max, self.sigma_data = use_fp16, sigma_min, sigma_max, sigma_data
        unet = {"SongUNet": SongUNet, "DhariwalUNet": DhariwalUNet}[model_type]
        self.model = unet(img_resolution=img_resolution, in_channels=img_channels, out_channels=img_channels,
                          label_dim=label_dim)

    def forward(self, x, sigma, class_labels=None, force_fp32=False):
        x = x.to(torch.float32)
        sigma = sigma.to(torch.float32).reshape(-1, 1, 1, 1)
        class_labels = (None if self.label_dim == 0 else torch.zeros([1, self.label_dim], device=x.device)
                        if class_labels is None else class_labels.to(torch.float32).reshape(-1, self.label_dim))
        dtype = torch.float16 if (self.use_fp16 and not force_fp32 and x.device.type == "cuda") else torch.float32
        sd = self.sigma_data
        c_skip = sd ** 2 / (sigma ** 2 + sd ** 2)
        c_out = sigma * sd / (sigma ** 2 + sd ** 2).sqrt()
        c_in = 1 / (sd ** 2 + sigma ** 2).sqrt()
        c_noise = sigma.log() / 4
        F_x = self.model((c_in * x).to(dtype), c_noise.flatten(), class_labels=class_labels)
        return c_skip * x + c_out * F_x.to(torch.float32)


# ---- diffusers UNet2DModel --------------------------------------------------------------------------------

class UNet2DOutput:
    """diffusers returns a BaseOutput dataclass whose field is `sample`."""

    def __init__(self, sample):
        self.sample = sample


class Timesteps(nn.Module):
    """Sinusoidal embedding of the timestep, always computed in float32 (as diffusers' Timesteps)."""

    def __init__(self, num_channels):
        super().__init__()
        self.num_channels = num_channels

    def forward(self, timesteps):
        half = self.num_channels // 2
        exponent = -math.log(10000) * torch.arange(0, half, dtype=torch.float32, device=timesteps.device) / half
        emb = timesteps[:, None].float() * exponent.exp()[None, :]
        return torch.cat([emb.cos(), emb.sin()], dim=-1)  # flip_sin_to_cos


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.linear_1, self.linear_2 = nn.Linear(cin, cout), nn.Linear(cout, cout)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, temb_channels):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(4, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb_channels, cout)
        self.norm2, self.conv2 = nn.GroupNorm(4, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.conv_shortcut(x) if self.conv_shortcut is not None else x) + h


class DownBlock2D(nn.Module):
    def __init__(self, cin, cout, temb_channels, downsample):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin, cout, temb_channels)])
        self.downsamplers = nn.ModuleList([nn.Conv2d(cout, cout, 3, stride=2, padding=1)]) if downsample else None

    def forward(self, hidden_states, temb):
        skips = ()
        for resnet in self.resnets:
            hidden_states = resnet(hidden_states, temb)
            skips += (hidden_states,)
        if self.downsamplers is not None:
            for down in self.downsamplers:
                hidden_states = down(hidden_states)
            skips += (hidden_states,)
        return hidden_states, skips


class UNetMidBlock2D(nn.Module):
    def __init__(self, channels, temb_channels):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, temb_channels) for _ in range(2)])

    def forward(self, hidden_states, temb):
        for resnet in self.resnets:
            hidden_states = resnet(hidden_states, temb)
        return hidden_states


class UpBlock2D(nn.Module):
    def __init__(self, cin, skip_channels, cout, temb_channels, upsample):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(cin + skip_channels, cout, temb_channels)])
        self.upsample = upsample

    def forward(self, hidden_states, skips, temb):
        for resnet in self.resnets:
            hidden_states = resnet(torch.cat([hidden_states, skips[-1]], dim=1), temb)
            skips = skips[:-1]
        if self.upsample:
            hidden_states = F.interpolate(hidden_states, scale_factor=2.0, mode="nearest")
        return hidden_states


class UNet2DModel(nn.Module):
    """diffusers' UNet2DModel interface on 3x16x16: forward(sample, timestep) -> output with .sample."""

    def __init__(self, sample_size=16, in_channels=3, out_channels=3, channels=8):
        super().__init__()
        self.config = types.SimpleNamespace(sample_size=sample_size, in_channels=in_channels,
                                            out_channels=out_channels, num_class_embeds=None,
                                            class_embed_type=None)
        c, temb = channels, 4 * channels
        self.time_proj = Timesteps(c)
        self.time_embedding = TimestepEmbedding(c, temb)
        self.conv_in = nn.Conv2d(in_channels, c, 3, padding=1)
        self.down_blocks = nn.ModuleList([DownBlock2D(c, c, temb, True), DownBlock2D(c, 2 * c, temb, False)])
        self.mid_block = UNetMidBlock2D(2 * c, temb)  # at 8x8
        self.up_blocks = nn.ModuleList([UpBlock2D(2 * c, 2 * c, 2 * c, temb, False),
                                        UpBlock2D(2 * c, c, c, temb, True),
                                        UpBlock2D(c, c, c, temb, False)])
        self.conv_norm_out, self.conv_out = nn.GroupNorm(4, c), nn.Conv2d(c, out_channels, 3, padding=1)

    @property
    def dtype(self):
        return next(self.parameters()).dtype

    def forward(self, sample, timestep, class_labels=None, return_dict=True):
        timesteps = timestep
        if not torch.is_tensor(timesteps):
            timesteps = torch.tensor([timesteps], dtype=torch.long, device=sample.device)
        elif timesteps.dim() == 0:
            timesteps = timesteps[None].to(sample.device)
        timesteps = timesteps * torch.ones(sample.shape[0], dtype=timesteps.dtype, device=timesteps.device)
        t_emb = self.time_proj(timesteps).to(dtype=self.dtype)  # a trace bakes this dtype in
        emb = self.time_embedding(t_emb)
        x = self.conv_in(sample)
        skips = (x,)
        for block in self.down_blocks:
            x, res = block(x, emb)
            skips += res
        x = self.mid_block(x, emb)
        for block in self.up_blocks:
            n = len(block.resnets)
            x = block(x, skips[-n:], emb)
            skips = skips[:-n]
        out = self.conv_out(F.silu(self.conv_norm_out(x)))
        return UNet2DOutput(out) if return_dict else (out,)


# ---- plain modules for export_module ---------------------------------------------------------------------

class UNetEps(nn.Module):
    """The UNet2DModel stand-in as a plain ε network forward(x, t) -> tensor."""

    def __init__(self):
        super().__init__()
        self.unet = UNet2DModel()

    def forward(self, x, t):
        return self.unet(x, t).sample


class ScriptableDenoiser(nn.Module):
    """An EDM-form denoiser on 3x16x16 that torch.jit.script compiles; features(x, σ) -> (D, 8x8 map)."""

    def __init__(self):
        super().__init__()
        self.conv_in = nn.Conv2d(3, 8, 3, padding=1)
        self.noise = nn.Linear(1, 8)
        self.block = nn.Conv2d(8, 8, 3, padding=1)
        self.conv_out = nn.Conv2d(16, 3, 3, padding=1)

    def trunk(self, x: torch.Tensor, sigma: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        s = sigma.reshape(-1, 1, 1, 1)
        c_in = 1 / torch.sqrt(s * s + 0.25)
        h = self.conv_in(x * c_in) + self.noise(torch.log(sigma).reshape(-1, 1) / 4).reshape(-1, 8, 1, 1)
        fmap = F.avg_pool2d(F.silu(self.block(h)), 2)  # [B, 8, 8, 8]
        up = F.interpolate(fmap, scale_factor=2.0, mode="nearest")
        f = self.conv_out(torch.cat([F.silu(h), up], dim=1))
        d = 0.25 / (s * s + 0.25) * x + s * 0.5 / torch.sqrt(s * s + 0.25) * f
        return d, fmap

    def forward(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return self.trunk(x, sigma)[0]

    def features(self, x: torch.Tensor, sigma: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.trunk(x, sigma)


class TraceOnlyEpsNet(nn.Module):
    """A VP ε network forward(x_vp, t) that TorchScript cannot compile (**kwargs, a dict of blocks);
    its 8x8 feature map is the output of the submodule body.mid."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.t_embed = nn.Linear(2, 6)
        self.body = nn.ModuleDict(OrderedDict([("down", nn.Conv2d(6, 6, 3, stride=2, padding=1)),
                                               ("mid", nn.Sequential(nn.Conv2d(6, 6, 3, padding=1), nn.SiLU()))]))
        self.head = nn.Conv2d(12, 3, 3, padding=1)
        self.parts = {"note": "python-only state"}

    def forward(self, x, t, **kwargs):
        temb = self.t_embed(torch.stack([torch.sin(3 * t), torch.cos(3 * t)], dim=1))
        h = F.silu(self.stem(x)) + temb[:, :, None, None]
        m = self.body["mid"](self.body["down"](h))
        up = F.interpolate(m, size=(x.shape[2], x.shape[3]), mode="nearest")
        return self.head(torch.cat([h, up], dim=1))


# ---- AMED predictor (diff-sampler amed-solver-main training/networks.py: names and attributes) ------------

class AMED_predictor(nn.Module):  # noqa: N801 - the official class name
    """(h [B,8,8], σ_i, σ_{i+1}) -> r, c, a with the official layers, parameter names and attributes."""

    def __init__(self, scale_dir=0.01, scale_time=0.2, **settings):
        super().__init__()
        attrs = dict(dataset_name="cifar10", img_resolution=32, num_steps=4, sampler_tea="heun",
                     sampler_stu="amed", M=1, guidance_type=None, guidance_rate=None, schedule_type="time_uniform",
                     schedule_rho=1, afs=True, max_order=None, predict_x0=True, lower_order_final=True)
        attrs.update(settings)
        for k, v in attrs.items():
            setattr(self, k, v)
        self.scale_dir, self.scale_time = scale_dir, scale_time
        self.map_noise = EdmPositionalEmbedding(8, endpoint=True)
        self.map_layer0 = EdmLinear(8, 8)
        self.enc_layer0, self.enc_layer1 = EdmLinear(64, 128), EdmLinear(128, 4)
        self.fc_r = EdmLinear(20, 1)
        if scale_dir:
            self.fc_scale_dir = EdmLinear(20, 1)
        if scale_time:
            self.fc_scale_time = EdmLinear(20, 1)

    def _time(self, t):
        emb = self.map_noise(t.reshape(1))
        emb = emb.reshape(emb.shape[0], 2, -1).flip(1).reshape(*emb.shape)
        return F.silu(self.map_layer0(emb))

    def forward(self, bottleneck, t_cur, t_next):
        b = bottleneck.shape[0]
        emb = torch.cat([self._time(t_cur).repeat(b, 1), self._time(t_next).repeat(b, 1)], dim=1)
        z = self.enc_layer1(F.silu(self.enc_layer0(bottleneck.reshape(b, -1))))
        f = torch.cat([z, emb], dim=1)
        out = [torch.sigmoid(self.fc_r(f))]
        if self.scale_dir:
            out.append(2 * self.scale_dir * torch.sigmoid(self.fc_scale_dir(f)) + 1 - self.scale_dir)
        if self.scale_time:
            out.append(2 * self.scale_time * torch.sigmoid(self.fc_scale_time(f)) + 1 - self.scale_time)
        return out[0] if len(out) == 1 else tuple(out)


def seeded(seed, factory):
    torch.manual_seed(seed)
    return factory().eval()


# =========================================================================================================
# Reference computations
# =========================================================================================================

def polynomial_sigmas(num_steps, sigma_min, sigma_max, rho):
    """EDM's polynomial schedule in float64, in dsx's operation order."""
    a, b = sigma_max ** (1.0 / rho), sigma_min ** (1.0 / rho)
    return [(a + (i / (num_steps - 1)) * (b - a)) ** rho for i in range(num_steps)]


def euler_reference(denoise, z, sigmas):
    """x = σ_0 z; x ← x + (σ_{i+1} − σ_i)(x − D(x, σ_i))/σ_i, in float64."""
    x = sigmas[0] * z
    with torch.no_grad():
        for s, t in zip(sigmas[:-1], sigmas[1:]):
            x = x + (t - s) * (x - denoise(x, s)) / s
    return x


def vp_discrete_label(sigma, betas):
    """dsx's VpDiscreteProcess: model_time(t_of_sigma_hat(σ)) = the (fractional) DDPM step index."""
    n = len(betas)
    acc, log_alphas, ts = 0.0, [], []
    for i, b in enumerate(betas):
        acc += math.log1p(-b)
        log_alphas.append(0.5 * acc)
        ts.append((i + 1) / n)
    xs, ys = log_alphas[::-1], ts[::-1]  # log α increasing
    la = -0.5 * math.log1p(sigma * sigma)
    hi = min(max(bisect.bisect_right(xs, la), 1), n - 1)
    lo = hi - 1
    t = ys[lo] + (ys[hi] - ys[lo]) * (la - xs[lo]) / (xs[hi] - xs[lo])
    return (t - 1.0 / n) * n


def vp_linear_label(sigma, beta_min=0.1, beta_max=20.0):
    """dsx's VpLinearProcess: t_of_sigma_hat(σ) (the network's time is t itself)."""
    L = math.log1p(sigma * sigma)
    return 2.0 * L / (beta_min + math.sqrt(beta_min * beta_min + 2.0 * (beta_max - beta_min) * L))


def ddpm_betas(n=1000, beta_start=1e-4, beta_end=0.02):
    return [beta_start + (beta_end - beta_start) * i / (n - 1) for i in range(n)]


def vp_eps_denoiser(eps_net, label_of_sigma):
    """D(x, σ) of an ε network through dsx's VP adapter: x_vp = x/sqrt(1+σ²), D = x − σ ε(x_vp, t(σ))."""
    def denoise(x, s):
        alpha = 1.0 / math.sqrt(1.0 + s * s)
        t = torch.full([x.shape[0]], label_of_sigma(s), dtype=x.dtype)
        return x - s * eps_net(alpha * x, t)
    return denoise


# =========================================================================================================
# Check helpers
# =========================================================================================================

def assert_close(got, want, tol, what):
    """|got − want| ≤ tol·|want| + tol elementwise (relative and absolute tolerance tol)."""
    expect(tuple(got.shape) == tuple(want.shape), "{}: shape {} != {}".format(what, list(got.shape),
                                                                             list(want.shape)))
    expect(got.dtype == want.dtype, "{}: dtype {} != {}".format(what, got.dtype, want.dtype))
    g, w = got.detach().double(), want.detach().double()
    expect(bool(torch.isfinite(g).all()), "{}: NaN/Inf".format(what))
    excess = ((g - w).abs() - tol * w.abs() - tol).max().item()
    if excess > 0:
        rel = ((g - w).abs() / w.abs().clamp_min(1e-300)).max().item()
        raise CheckFailed("{}: differs by up to {:.3g} (relative {:.3g}), tolerance {:g}".format(
            what, (g - w).abs().max().item(), rel, tol))


def hooked_map(net, block_path, call, x, *extra):
    """The output of net.<block_path> during call(net, x, *extra), captured with this check's own hook."""
    captured = []
    handle = net.get_submodule(block_path).register_forward_hook(lambda m, i, o: captured.append(o))
    try:
        with torch.no_grad():
            call(net, x, *extra)
    finally:
        handle.remove()
    return captured[-1]


def one_hot(classes, num_classes, dtype=torch.float64):
    return torch.eye(num_classes, dtype=dtype)[list(classes)]


def dsx_class_labels(seeds, num_classes):
    """The one-hot labels dsx draws (framework/models/denoiser.cpp class_labels): seed s's class is uniform
    from a CPU generator seeded with s + 2^41."""
    return one_hot([int(torch.randint(num_classes, (1,), generator=torch.Generator().manual_seed(s + 2 ** 41)))
                    for s in seeds], num_classes)


def inputs(shape, batch, labels, dtype, seed, num_classes=0):
    """x and the other arguments: (label,) or, for a conditional network, (label, one-hot class labels)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn([batch] + list(shape), generator=g, dtype=torch.float64).to(dtype)
    lab = torch.tensor([labels[(i * 3 + 1) % len(labels)] for i in range(batch)], dtype=torch.float64).to(dtype)
    if not num_classes:
        return x, (lab,)
    return x, (lab, one_hot(torch.randint(num_classes, (batch,), generator=g).tolist(), num_classes, dtype))


def python_checks(run, name, path, eager, call, shape, labels, feature_method=None, feature_block=None,
                  attrs=None, num_classes=0):
    """The TorchScript at `path` against the eager stand-in: float64 (batches 3, 5), float32, features,
    attributes; with num_classes, that other class labels change the output as they change the eager one."""
    def load(dtype):
        return torch.jit.load(path).to(dtype).eval()

    def float64():
        m, net = load(torch.float64), copy.deepcopy(eager).double()
        for b in (3, 5):
            x, extra = inputs(shape, b, labels, torch.float64, seed=10 + b, num_classes=num_classes)
            with torch.no_grad():
                assert_close(m(x, *extra), call(net, x, *extra), TOL64, "forward batch {}".format(b))
    run(name + ".python_float64", float64)

    def float32():
        m, net = load(torch.float32), copy.deepcopy(eager).float()
        x, extra = inputs(shape, 3, labels, torch.float32, seed=20, num_classes=num_classes)
        with torch.no_grad():
            assert_close(m(x, *extra), call(net, x, *extra), TOL32, "forward float32 batch 3")
    run(name + ".python_float32", float32)

    def gradient():
        # dsx trains AMED through the network: autograd must reach x through the export.
        m, net = load(torch.float64), copy.deepcopy(eager).double()
        x, extra = inputs(shape, 3, labels, torch.float64, seed=40, num_classes=num_classes)
        weights = torch.randn(x.shape, generator=torch.Generator().manual_seed(41), dtype=torch.float64)
        grads = []
        for f in (m, lambda a, *b: call(net, a, *b)):
            xg = x.clone().requires_grad_(True)
            (f(xg, *extra) * weights).sum().backward()
            grads.append(xg.grad)
        assert_close(grads[0], grads[1], TOL32, "d(output)/dx")
    run(name + ".python_gradient", gradient)

    if num_classes:
        def labels_matter():
            # Every sample with each class in turn: the export follows the eager network, and the class
            # changes the output (the labels reach the network and are not a constant of the trace).
            m, net = load(torch.float64), copy.deepcopy(eager).double()
            x, (lab, _) = inputs(shape, 2, labels, torch.float64, seed=50, num_classes=num_classes)
            outs = []
            for c in range(num_classes):
                classes = one_hot([c, c], num_classes)
                with torch.no_grad():
                    outs.append(m(x, lab, classes))
                    assert_close(outs[-1], call(net, x, lab, classes), TOL64, "forward, class {}".format(c))
            for c in range(1, num_classes):
                change = ((outs[c] - outs[0]).abs().max() / outs[0].abs().max()).item()
                expect(change > 1e-3, "class {} changes the output by only {:.3g} (relative)".format(c, change))
        run(name + ".python_labels_matter", labels_matter)

    if feature_method or feature_block:
        def features():
            m, net = load(torch.float64), copy.deepcopy(eager).double()
            method = getattr(m, feature_method or "features")
            for b in (3, 1):
                x, extra = inputs(shape, b, labels, torch.float64, seed=30 + b, num_classes=num_classes)
                with torch.no_grad():
                    out, fmap = method(x, *extra)
                    assert_close(out, call(net, x, *extra), TOL64, "features output batch {}".format(b))
                    want = (getattr(net, feature_method)(x, *extra)[1] if feature_block is None
                            else hooked_map(net, feature_block, call, x, *extra))
                expect(fmap.dim() == 4 and fmap.shape[0] == b and tuple(fmap.shape[2:]) == (8, 8),
                       "feature map {} is not [B, C, 8, 8]".format(list(fmap.shape)))
                assert_close(fmap, want.to(torch.float64), TOL64, "feature map batch {}".format(b))
        run(name + ".python_features", features)

    if attrs:
        def attributes():
            m = torch.jit.load(path)
            for key, want in attrs.items():
                expect(hasattr(m, key), "attribute {} missing".format(key))
                got = getattr(m, key)
                got = list(got) if isinstance(got, (list, tuple)) else got
                expect(got == want, "attribute {} = {!r}, expected {!r}".format(key, got, want))
        run(name + ".python_attributes", attributes)


class Dsx:
    """Runs dsx in the work directory (its artifact cache there too) on configs written into it."""

    def __init__(self, binary, workdir):
        self.binary, self.workdir = binary, workdir
        self.env = dict(os.environ, DSX_CACHE_DIR=os.path.join(workdir, "dsx-cache"))

    def run(self, args):
        return subprocess.run([self.binary] + args, cwd=self.workdir, env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=300)

    def write_latents(self, name, shape, seed):
        g = torch.Generator().manual_seed(seed)
        z = torch.randn([LATENT_BATCH] + list(shape), generator=g, dtype=torch.float64)
        path = os.path.join(self.workdir, name + "_latents.h5")
        with h5py.File(path, "w") as f:
            f.create_dataset("latents", data=z.numpy())
        return z, path

    def sample(self, name, model_lines, latents, solver_lines=None, schedule_lines=None, precision="float64"):
        """Writes NAME.yaml, runs dsx sample, returns (samples [B, ...] float64 tensor, stdout). `latents`
        is a latents file or "seeds: A-B" (dsx's own per-seed noise)."""
        schedule_lines = schedule_lines or [
            "schedule: {{kind: polynomial, num_steps: {num_steps}, sigma_min: {sigma_min}, sigma_max: {sigma_max}, "
            "rho: {rho}}}".format(**SCHEDULE)]
        out = os.path.join(self.workdir, name + "_out.h5")
        lines = (["model:"] + ["  " + l for l in model_lines] +
                 ["latents: {{{}}}".format(latents if latents.startswith("seeds:")
                                           else "file: " + os.path.basename(latents))] + schedule_lines +
                 (solver_lines or ["solver: {name: euler}"]) +
                 ["precision: {}".format(precision), "device: cpu", "output: {}".format(os.path.basename(out))])
        cfg = os.path.join(self.workdir, name + ".yaml")
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = self.run(["sample", cfg])
        if r.returncode != 0:
            err = [l for l in (r.stderr + r.stdout).splitlines() if l.strip()]
            raise CheckFailed("dsx sample {} exited {}: {}".format(os.path.basename(cfg), r.returncode,
                                                                   err[-1] if err else "no output"))
        with h5py.File(out, "r") as f:
            samples = torch.from_numpy(np.asarray(f["samples"], dtype=np.float64))
        return samples, r.stdout


def dsx_euler_check(run, dsx, name, model_lines, shape, denoise, seed, schedule=SCHEDULE, other_denoise=None):
    """dsx sample on a latents file against euler_reference(denoise); with other_denoise (a conditional
    network with other labels), its Euler loop must differ from dsx's samples."""
    def check():
        z, latents = dsx.write_latents(name, shape, seed)
        schedule_lines = ["schedule: {{kind: polynomial, num_steps: {num_steps}, sigma_min: {sigma_min}, "
                          "sigma_max: {sigma_max}, rho: {rho}}}".format(**schedule)]
        got, _ = dsx.sample(name, model_lines, latents, schedule_lines=schedule_lines)
        sigmas = polynomial_sigmas(**schedule)
        want = euler_reference(denoise, z, sigmas)
        assert_close(got, want, TOL64, "dsx samples vs the Python Euler loop")
        if other_denoise is not None:
            other = euler_reference(other_denoise, z, sigmas)
            change = ((other - got).abs().max() / got.abs().max()).item()
            expect(change > 1e-3, "other labels change the samples by only {:.3g} (relative)".format(change))
    run(name + ".dsx_euler", check)


# =========================================================================================================
# The checks, one group per exporter
# =========================================================================================================

def edm_call(net, x, sigma, *class_labels):
    """What the EDM export's forward computes: net(x, σ[, class_labels]) (float32 inside EDMPrecond) in x's
    dtype."""
    return net(x, sigma, *class_labels).to(x.dtype)


def module_call(net, x, label):
    return net(x, label)


def check_edm(run, dsx, work, model_type, block, seed, sigma_range, num_classes=0):
    name = "edm_" + {"SongUNet": "song", "DhariwalUNet": "dhariwal"}[model_type] + ("_cond" if num_classes else "")
    net_min, net_max, want_min, want_max = sigma_range
    net = seeded(seed, lambda: EDMPrecond(32, 3, label_dim=num_classes, sigma_min=net_min, sigma_max=net_max,
                                          model_type=model_type))
    path = os.path.join(work, name + ".pt")
    info = {}

    def export():
        info.update(export_edm(net, path))
        expect(info["feature_block"] == "model.enc." + block, "feature block {}".format(info["feature_block"]))
        expect(info["num_classes"] == num_classes, "num_classes {}".format(info["num_classes"]))
    run(name + ".export", export)
    if not info:
        return None
    labels = [80.0, 7.3, 0.9, 0.05, 0.002]
    attrs = {"img_shape": [3, 32, 32], "sigma_min": want_min, "sigma_max": want_max}
    python_checks(run, name, path, net, edm_call, EDM_SHAPE, labels, feature_block="model.enc." + block,
                  attrs=attrs, num_classes=num_classes)

    def denoiser(*class_labels):
        return lambda x, s: edm_call(net.double(), x, torch.full([x.shape[0]], s, dtype=torch.float64),
                                     *class_labels)
    model_lines = ["kind: torchscript", "file: {}".format(os.path.basename(path)), "output: denoised",
                   "features: features"]
    if not num_classes:
        dsx_euler_check(run, dsx, name, model_lines, EDM_SHAPE, denoiser(), seed + 1)
        return path
    # The latents file's row i is seed i: dsx gives it seed i's class; the Euler loop uses the same labels,
    # and (to show the labels matter) other ones must give other samples.
    def ignored_labels():
        # label_dim > 0 but no label embedding: the export must fail (and leave no file), not ship a
        # network whose labels do nothing.
        deaf, out = copy.deepcopy(net), os.path.join(work, name + "_deaf.pt")
        deaf.model.map_label = None
        try:
            export_edm(deaf, out)
            raise CheckFailed("a network that ignores its labels was exported")
        except ExportError as e:
            expect("does not depend on class_labels" in str(e), "unexpected message: {}".format(e))
        expect(not os.path.exists(out) and not os.path.exists(out + ".unverified"), "a file was left behind")
    run(name + ".ignored_labels_fail_loudly", ignored_labels)

    model_lines.append("condition: {{num_classes: {}}}".format(num_classes))
    classes = dsx_class_labels(range(LATENT_BATCH), num_classes)
    dsx_euler_check(run, dsx, name, model_lines, EDM_SHAPE, denoiser(classes), seed + 1,
                    other_denoise=denoiser(classes.roll(1, dims=1)))

    def seeds():
        got, out = dsx.sample(name + "_seeds", model_lines, "seeds: 0-2")
        expect(tuple(got.shape) == (3, 3, 32, 32) and bool(torch.isfinite(got).all()),
               "samples {} (finite: {})".format(list(got.shape), bool(torch.isfinite(got).all())))
        with h5py.File(os.path.join(dsx.workdir, name + "_seeds_out.h5"), "r") as f:
            expect("seeds" in f and list(f["seeds"]) == [0, 1, 2], "no dataset seeds = [0, 1, 2]")
    run(name + ".dsx_seeds", seeds)
    return path


def check_diffusers(run, dsx, work):
    name = "diffusers"
    unet = seeded(11, UNet2DModel)
    path = os.path.join(work, name + ".pt")
    done = []

    def export():
        info = export_diffusers(unet, path)
        expect(info["feature_shape"][1:] == [16, 8, 8], "feature map {}".format(info["feature_shape"]))
        done.append(True)
    run(name + ".export", export)

    def single_trace_refused():
        # The same UNet traced once in float64 bakes t_emb.to(float64) in: the float32 check must catch it.
        tracee = Tracee(unet, call_unet, "mid_block")
        single = os.path.join(work, name + "_single.pt")
        module = trace_single(tracee, [3, 16, 16], t_examples(), {"img_shape": [3, 16, 16]})
        torch.jit.save(module, single)
        try:
            verify_export(single, tracee, [3, 16, 16], t_examples())
        except ExportError as e:
            expect("float32" in str(e), "unexpected message: {}".format(e))
            return
        raise CheckFailed("a dtype-baking single trace passed the checks")
    run(name + ".single_trace_fails_loudly", single_trace_refused)
    if not done:
        return

    def call(net, x, t):
        return net(x, t).sample
    python_checks(run, name, path, unet, call, [3, 16, 16], t_examples(), feature_block="mid_block",
                  attrs={"img_shape": [3, 16, 16]})
    betas = ddpm_betas()
    eps = lambda x, t: unet.double()(x, t).sample  # noqa: E731
    dsx_euler_check(run, dsx, name, ["kind: torchscript", "file: {}".format(os.path.basename(path)),
                                     "output: eps", "process: {kind: vp_discrete}", "features: features"],
                    [3, 16, 16], vp_eps_denoiser(eps, lambda s: vp_discrete_label(s, betas)), 12, VP_DISCRETE_SCHEDULE)


def check_module_script(run, dsx, work):
    name = "module_script"
    net = seeded(21, ScriptableDenoiser)
    path = os.path.join(work, name + ".pt")
    info = {}

    def export():
        info.update(export_module(net, path, [3, 16, 16], "denoised", features="features", sigma_min=0.002,
                                  sigma_max=80.0))
        expect(info["method"] == "script", "exported by {} ({})".format(info["method"], info["tried"]))
    run(name + ".export", export)
    if not info:
        return
    python_checks(run, name, path, net, module_call, [3, 16, 16], [80.0, 3.0, 0.2, 0.002], feature_method="features",
                  attrs={"img_shape": [3, 16, 16], "sigma_min": 0.002, "sigma_max": 80.0})

    def denoise(x, s):
        return net.double()(x, torch.full([x.shape[0]], s, dtype=torch.float64))
    dsx_euler_check(run, dsx, name, ["kind: torchscript", "file: {}".format(os.path.basename(path)),
                                     "features: features"], [3, 16, 16], denoise, 22)


def check_module_trace(run, dsx, work):
    name = "module_trace"
    net = seeded(31, TraceOnlyEpsNet)
    path = os.path.join(work, name + ".pt")
    info = {}

    def export():
        info.update(export_module(net, path, [3, 16, 16], "eps", features="body.mid"))
        expect(info["method"] == "trace", "exported by {} ({})".format(info["method"], info["tried"]))
    run(name + ".export", export)

    def script_fallback():
        # Without a submodule feature, auto mode tries torch.jit.script first, which fails on **kwargs.
        r = export_module(net, os.path.join(work, name + "_nofeatures.pt"), [3, 16, 16], "eps")
        expect(r["method"] == "trace" and r["tried"] and r["tried"][0].startswith("script"),
               "method {}, tried {}".format(r["method"], r["tried"]))
    run(name + ".script_falls_back_to_trace", script_fallback)
    if not info:
        return
    def per_dtype_fallback():
        # A module whose trace bakes a dtype (the UNet stand-in's t_emb.to(self.dtype)): --mode trace fails
        # and leaves no file; auto mode ends at one trace per dtype.
        unet_eps = seeded(13, UNetEps)
        baked = os.path.join(work, name + "_baked.pt")
        try:
            export_module(unet_eps, baked, [3, 16, 16], "eps", mode="trace", labels=t_examples())
            raise CheckFailed("--mode trace accepted a dtype-baking trace")
        except ExportError as e:
            expect("float32" in str(e), "unexpected message: {}".format(e))
        expect(not os.path.exists(baked) and not os.path.exists(baked + ".unverified"), "a file was left behind")
        r = export_module(unet_eps, baked, [3, 16, 16], "eps", labels=t_examples())
        expect(r["method"] == "trace-per-dtype" and [t.split(":")[0] for t in r["tried"]] == ["script", "trace"],
               "method {}, tried {}".format(r["method"], r["tried"]))
    run(name + ".per_dtype_fallback", per_dtype_fallback)

    python_checks(run, name, path, net, module_call, [3, 16, 16], [0.95, 0.5, 0.1, 0.01], feature_block="body.mid",
                  attrs={"img_shape": [3, 16, 16]})
    eps = lambda x, t: net.double()(x, t)  # noqa: E731
    dsx_euler_check(run, dsx, name, ["kind: torchscript", "file: {}".format(os.path.basename(path)),
                                     "output: eps", "process: {kind: vp_linear}", "features: features"],
                    [3, 16, 16], vp_eps_denoiser(eps, vp_linear_label), 32)


def h5_layout(path):
    """{name: description} of every root attribute and dataset: type class, size, string padding/charset,
    shape, storage layout (the values are not part of the layout)."""
    out = {}
    with h5py.File(path, "r") as f:
        for key in f.attrs:
            aid = h5py.h5a.open(f.id, key.encode())
            t = aid.get_type()
            desc = [t.get_class(), t.get_size(), aid.get_space().get_simple_extent_type()]
            if t.get_class() == h5py.h5t.STRING:
                desc += [t.is_variable_str(), t.get_cset(), t.get_strpad()]
            out["attr " + key] = tuple(desc)
        for key in f:
            d = f[key]
            out["dataset " + key] = (d.dtype.str, d.shape, d.id.get_create_plist().get_layout(), d.compression)
    return out


def check_amed_predictor(run, dsx, work, edm_song_path):
    name = "amed_predictor"
    pred = seeded(41, AMED_predictor)
    for p in pred.parameters():  # non-zero biases, so nothing passes by accident
        p.data.normal_(0, 0.3)
    path = os.path.join(work, "predictor.h5")
    done = []

    def export():
        export_amed_predictor(pred, path)
        done.append(True)
    run(name + ".export", export)
    if not done:
        return None

    def golden_forward():
        # docs/amed.md §12.2: the official forward with weights 0.3 sin(0.7 j + p), h = sin(0.1 (64 b + 8 i + j)).
        golden = seeded(0, AMED_predictor)
        names = ["map_layer0", "enc_layer0", "enc_layer1", "fc_r", "fc_scale_dir", "fc_scale_time"]
        with torch.no_grad():
            for p_index, key in enumerate("{}.{}".format(n, w) for n in names for w in ("weight", "bias")):
                t = golden.state_dict()[key]
                j = torch.arange(t.numel(), dtype=torch.float64)
                t.copy_((0.3 * torch.sin(0.7 * j + p_index)).reshape(t.shape))
        h = torch.sin(0.1 * torch.arange(128, dtype=torch.float64)).reshape(2, 8, 8).float()
        want = {"r": [0.45242015, 0.45125964], "c": [0.99716818, 0.99715340], "a": [1.06509590, 1.06575286]}
        tensors = {k: v.numpy() for k, v in golden.state_dict().items()}
        with torch.no_grad():
            official = [v.reshape(-1).tolist() for v in golden(h, torch.tensor(80.0), torch.tensor(6.9502778))]
        ours = [v.tolist() for v in dsx_predictor_forward(tensors, 0.01, 0.2, h.numpy(), 80.0, 6.9502778)]
        for label, values in (("stand-in", official), ("export_amed_predictor", ours)):
            for name, got in zip("rca", values):
                expect(np.allclose(got, want[name], rtol=2e-6, atol=0), "{} {} = {}, golden {}".format(
                    label, name, got, want[name]))
    run(name + ".golden_forward", golden_forward)

    def contents():
        state = pred.state_dict()
        with h5py.File(path, "r") as f:
            expect(sorted(f.keys()) == sorted(state.keys()), "datasets {} != parameters {}".format(
                sorted(f.keys()), sorted(state.keys())))
            for key, value in state.items():
                d = np.asarray(f[key])
                expect(d.dtype == np.float32, "{} is {}".format(key, d.dtype))
                expect(np.array_equal(d, value.numpy().astype(np.float32)), "{} differs".format(key))
            want = {"scale_dir": 0.01, "scale_time": 0.2, "student": "amed", "teacher": "heun", "m": 1,
                    "schedule_kind": "time_uniform", "num_steps": 4, "sigma_min": 0.002, "sigma_max": 80.0,
                    "rho": 1.0, "afs": 1, "max_order": 3, "predict_x0": 1, "lower_order_final": 1,
                    "features": "model"}
            for key, value in want.items():
                got = f.attrs[key]
                got = got.decode() if isinstance(got, bytes) else got
                expect(got == value and type(got) is not np.ndarray,
                       "attribute {} = {!r}, expected {!r}".format(key, got, value))
                expect(isinstance(got, str) == isinstance(value, str), "attribute {} type".format(key))
    run(name + ".h5_contents", contents)

    def layout():
        # dsx's own file: a few teacher trajectories on the toy, one training pass with both heads.
        ref_dir = os.path.join(work, "dsx_predictor")
        os.makedirs(ref_dir, exist_ok=True)
        teacher = os.path.join(ref_dir, "teacher.h5")
        ref = os.path.join(ref_dir, "predictor.h5")
        for cmd in (["teacher", os.path.join(REPO, "configs", "amed_toy_teacher.yaml"),
                     "--set", "seeds=0-127", "--set", "batch=128", "--set", "output=" + teacher],
                    ["train-amed", os.path.join(REPO, "configs", "amed_toy_train.yaml"),
                     "--set", "trajectories=" + teacher, "--set", "output=" + ref, "--set", "scale_time=0.2"]):
            r = dsx.run(cmd)
            expect(r.returncode == 0, "dsx {} failed: {}".format(cmd[0], (r.stderr or r.stdout).strip()[-300:]))
        ours, theirs = h5_layout(path), h5_layout(ref)
        diff = sorted(set(ours.items()) ^ set(theirs.items()))
        expect(not diff, "layout differs from dsx's save_predictor: {}".format(diff[:4]))
    run(name + ".layout_matches_dsx", layout)

    def on_amed_toy():
        _, latents = dsx.write_latents("predictor_toy", [3, 8, 8], 42)
        got, out = dsx.sample("predictor_toy", ["kind: amed_toy"], latents,
                              ["solver: {{name: amed, afs: true, amed: {{predictor: {}, features: model}}}}".format(
                                  os.path.basename(path))],
                              ["schedule: {kind: time_uniform, num_steps: 4, rho: 1}"], precision="float32")
        expect(bool(torch.isfinite(got).all()) and tuple(got.shape) == (LATENT_BATCH, 3, 8, 8), "bad samples")
        expect("nfe 5" in out, "expected nfe 5 in: {}".format(out.strip()))
    run(name + ".dsx_amed_toy", on_amed_toy)

    if edm_song_path:
        def on_edm_export():
            _, latents = dsx.write_latents("predictor_edm", EDM_SHAPE, 43)
            got, out = dsx.sample("predictor_edm", ["kind: torchscript", "file: {}".format(
                os.path.basename(edm_song_path)), "features: features"], latents,
                ["solver: {{name: amed, afs: true, amed: {{predictor: {}}}}}".format(os.path.basename(path))],
                ["schedule: {kind: time_uniform, num_steps: 4, rho: 1}"])
            expect(bool(torch.isfinite(got).all()), "NaN/Inf samples")
            expect("nfe 5" in out, "expected nfe 5 in: {}".format(out.strip()))
        run(name + ".dsx_on_exported_edm", on_edm_export)
    return path


# ---- dsx's own UNet (export_dsx_unet.py): the HDF5 file written here, in dsx's layout --------------------

DSX_UNET_OPTIONS = {"image_channels": 3, "resolution": 32, "base_channels": 8, "channel_mult": [1, 1, 2],
                    "blocks": 1, "attention_at": [8], "num_classes": 0, "sigma_data": 0.5, "dropout": 0.0}
# Conditional: another geometry (levels 16/8, two blocks, attention away from the feature level).
DSX_UNET_COND_OPTIONS = dict(DSX_UNET_OPTIONS, image_channels=2, resolution=16, channel_mult=[1, 2], blocks=2,
                             attention_at=[16], num_classes=3)
LIGHT_UNET = os.path.join(REPO, "models", "fashion_mnist_unet_light.h5")  # git-ignored: checked if present


def dsx_unet_stand_in(options, seed):
    """export_dsx_unet's twin with seeded random weights, none zero (dsx zero-inits conv1, proj, conv_out)."""
    torch.manual_seed(seed)
    has_8x8 = 8 in [options["resolution"] >> l for l in range(len(options["channel_mult"]))]
    net = (DsxUNetFeatures if has_8x8 else DsxUNet)(options)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape) / math.sqrt(p[0].numel()))
            else:  # 1-d weights are GroupNorm scales (around 1); biases around 0
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn(p.shape))
    return net.eval()


def write_dsx_unet(path, net, options, fmt=DSX_UNET_FORMAT):
    """The file dsx's save_unet writes: float32 datasets named by module path, string attributes format,
    options and training (nlohmann's JSON: sorted keys, no spaces)."""
    with h5py.File(path, "w", libver=H5_LIBVER) as f:
        for name, t in net.state_dict().items():
            create_dsx_dataset(f, name, t.detach().numpy().astype("<f4"))
        _set_string_attr(f, "format", fmt)
        _set_string_attr(f, "options", json.dumps(options, sort_keys=True, separators=(",", ":")))
        _set_string_attr(f, "training", json.dumps({"stand_in": "check_exporters.py"}, separators=(",", ":")))


def feature_block(options):
    """(encoder.K, its channels): K the last block of the level at resolution 8 (counted here, not by the
    twin)."""
    level = [options["resolution"] >> l for l in range(len(options["channel_mult"]))].index(8)
    return ("encoder.{}".format((level + 1) * options["blocks"] - 1),
            options["base_channels"] * options["channel_mult"][level])


def dsx_native_vs_export(run, dsx, name, h5_path, pt_path, shape, seed, denoise=None, num_classes=0,
                         predictor=None):
    """dsx sample (Euler, polynomial, 4 points) with `model: {kind: unet}` and with the export on the same
    latents: equal to TOL64 in float64 and TOL32 in float32, and (given `denoise`) the native run equal to
    the Python twin's Euler loop; with `predictor`, AMED-Solver (the feature map's channel mean) on both."""
    z, latents = dsx.write_latents(name, shape, seed)
    done = {}

    def sample(tag, *args):  # each dsx run once, whichever check needs it first
        if tag not in done:
            done[tag] = dsx.sample(tag, *args)[0]
        return done[tag]
    native = ["kind: unet", "file: {}".format(h5_path)]
    script = ["kind: torchscript", "file: {}".format(pt_path), "features: features"] + (
        ["condition: {{num_classes: {}}}".format(num_classes)] if num_classes else [])

    def same(precision, tol, solver_lines=None, schedule_lines=None):
        def check():
            tag = "{}_{}{}".format(name, precision, "_amed" if solver_lines else "")
            got = sample(tag + "_export", script, latents, solver_lines, schedule_lines, precision)
            want = sample(tag + "_native", native, latents, solver_lines, schedule_lines, precision)
            assert_close(got, want, tol, "dsx samples, torchscript export vs kind unet ({})".format(precision))
        return check
    run(name + ".dsx_export_vs_native_float64", same("float64", TOL64))
    run(name + ".dsx_export_vs_native_float32", same("float32", TOL32))
    if predictor:
        run(name + ".dsx_amed_export_vs_native", same(
            "float64", TOL64, ["solver: {{name: amed, afs: true, amed: {{predictor: {}}}}}".format(predictor)],
            ["schedule: {kind: time_uniform, num_steps: 4, rho: 1}"]))
    if denoise is not None:
        def python():
            # The C++ UNet itself against the twin: the architecture, not only the export, is checked.
            got = sample(name + "_float64_native", native, latents, None, None, "float64")
            assert_close(got, euler_reference(denoise, z, polynomial_sigmas(**SCHEDULE)), TOL64,
                         "dsx kind unet vs the Python twin's Euler loop")
        run(name + ".dsx_native_vs_python_twin", python)


def check_dsx_unet(run, dsx, work, predictor=None):
    for name, options, seed in (("dsx_unet", DSX_UNET_OPTIONS, 51), ("dsx_unet_cond", DSX_UNET_COND_OPTIONS, 53)):
        net, k = dsx_unet_stand_in(options, seed), options["num_classes"]
        shape = [options["image_channels"], options["resolution"], options["resolution"]]
        h5_path, pt_path = os.path.join(work, name + ".h5"), os.path.join(work, name + ".pt")
        info = {}

        def export():
            write_dsx_unet(h5_path, net, options)
            info.update(export_dsx_unet(h5_path, pt_path))
            expect(info["features"] == "features" and info["num_classes"] == k and info["img_shape"] == shape,
                   "features {}, num_classes {}, img_shape {}".format(info["features"], info["num_classes"],
                                                                      info["img_shape"]))
            loaded = info["net"].state_dict()
            for key, value in net.state_dict().items():  # every parameter from its own dataset, none zero
                expect(torch.equal(loaded[key], value) and bool((value != 0).all()), "{} differs".format(key))
        run(name + ".export", export)
        if not info:
            continue
        python_checks(run, name, pt_path, net, lambda m, x, *args: m(x, *args), shape,
                      [80.0, 7.3, 0.9, 0.05, 0.002], feature_method="features",
                      attrs={"img_shape": shape, "sigma_min": 0.002, "sigma_max": 80.0}, num_classes=k)

        def features_block():
            # features() returns the last 8x8 encoder block's output (this check's own hook on the twin).
            m, eager = torch.jit.load(pt_path).double(), copy.deepcopy(net).double()
            x, extra = inputs(shape, 3, [80.0, 0.9, 0.002], torch.float64, seed=60, num_classes=k)
            with torch.no_grad():
                _, fmap = m.features(x, *extra)
            block, channels = feature_block(options)
            # The twin calls its blocks' forward directly (TorchScript's interface calls), which skips
            # forward hooks: capture the block's output by wrapping that instance's forward instead.
            module, captured = eager.get_submodule(block), []
            module.forward = lambda *a: captured.append(type(module).forward(module, *a)) or captured[-1]
            with torch.no_grad():
                eager(x, *extra)
            want = captured[-1]
            expect(list(fmap.shape) == [3, channels, 8, 8], "feature map {}".format(list(fmap.shape)))
            assert_close(fmap, want, TOL64, "features() vs {}".format(block))
        run(name + ".features_are_the_last_8x8_block", features_block)

        labels = dsx_class_labels(range(LATENT_BATCH), k) if k else None
        twin = copy.deepcopy(net).double()

        def denoise(x, s):
            sigma = torch.full([x.shape[0]], s, dtype=torch.float64)
            return twin(x, sigma, labels) if k else twin(x, sigma)
        dsx_native_vs_export(run, dsx, name, os.path.basename(h5_path), os.path.basename(pt_path), shape, seed + 1,
                             denoise, k, predictor)

    def refused():
        # Wrong format, a missing, an extra and a misshapen dataset: an error naming the file; no file left.
        net = dsx_unet_stand_in(DSX_UNET_OPTIONS, 57)
        bad, out = os.path.join(work, "dsx_unet_bad.h5"), os.path.join(work, "dsx_unet_bad.pt")
        edits = [("missing", "conv_out.bias", "missing: conv_out.bias"),
                 ("extra", "encoder.9.conv0.bias", "unexpected: encoder.9.conv0.bias"),
                 ("shape", "mid.0.qkv.weight", "dataset 'mid.0.qkv.weight'"),
                 ("format", None, "not a dsx UNet file (attribute format = 'dsx-classifier/1'")]
        for what, key, message in edits:
            write_dsx_unet(bad, net, DSX_UNET_OPTIONS, "dsx-classifier/1" if what == "format" else DSX_UNET_FORMAT)
            with h5py.File(bad, "a") as f:
                if what in ("missing", "shape"):
                    del f[key]
                if what in ("extra", "shape"):
                    f.create_dataset(key, data=np.zeros([2, 2], dtype="<f4"))
            try:
                export_dsx_unet(bad, out)
                raise CheckFailed("{}: a file with a {} problem was exported".format(bad, what))
            except ExportError as e:
                expect(bad in str(e) and message in str(e), "{}: unexpected message: {}".format(what, e))
            expect(not os.path.exists(out) and not os.path.exists(out + ".unverified"), "a file was left behind")
        # The wrong format through the command line too: `error: PATH: ...` on stderr, exit status 1.
        r = subprocess.run([sys.executable, os.path.join(REPO, "tools", "export", "export_dsx_unet.py"), bad, out],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
        expect(r.returncode == 1 and r.stderr.startswith("error: " + bad), "exit {}, stderr {!r}".format(
            r.returncode, r.stderr[-300:]))
    run("dsx_unet.bad_files_refused", refused)

    if not os.path.isfile(LIGHT_UNET):
        return
    # The trained light Fashion-MNIST UNet (configs/fashion_mnist_unet.yaml --light), when it is there.
    name, pt_path = "dsx_unet_light", os.path.join(work, "dsx_unet_light.pt")
    info = {}
    run(name + ".export", lambda: info.update(export_dsx_unet(LIGHT_UNET, pt_path)))

    def layout():
        # This check's writer matches dsx's save_unet (string types and padding, dataset storage), so the
        # stand-in files above are files dsx itself could have written.
        with h5py.File(LIGHT_UNET, "r") as f:
            options = json.loads(f.attrs["options"])
        write_dsx_unet(os.path.join(work, name + "_rewritten.h5"), info["net"], options)
        ours, theirs = h5_layout(os.path.join(work, name + "_rewritten.h5")), h5_layout(LIGHT_UNET)
        strip = lambda d: {k: (v[0],) + v[2:] if k.startswith("attr") else v for k, v in d.items()}  # noqa: E731
        diff = sorted(set(strip(ours).items()) ^ set(strip(theirs).items()))
        expect(not diff, "layout differs from dsx's save_unet: {}".format(diff[:4]))
    if info:
        run(name + ".writer_layout_matches_dsx", layout)
        twin = copy.deepcopy(info["net"]).double()
        dsx_native_vs_export(run, dsx, name, LIGHT_UNET, pt_path, [1, 32, 32], 59,
                             lambda x, s: twin(x, torch.full([x.shape[0]], s, dtype=torch.float64)),
                             predictor=predictor)


# =========================================================================================================

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dsx", metavar="PATH", help="the dsx binary (default: build/bin/dsx, else dsx on PATH)")
    p.add_argument("--workdir", metavar="DIR", help="keep the exports, configs and outputs here (default: a "
                                                     "temporary directory, removed afterwards)")
    a = p.parse_args()
    run = CheckRunner(failures=(CheckFailed, ExportError))

    start = time.time()
    work = os.path.abspath(a.workdir) if a.workdir else tempfile.mkdtemp(prefix="dsx-export-check-")
    os.makedirs(work, exist_ok=True)
    binary = find_dsx(a.dsx, REPO)
    try:
        if binary is None or not os.access(binary, os.X_OK):
            run("dsx_binary", lambda: (_ for _ in ()).throw(CheckFailed(
                "no dsx binary at {} (pass --dsx PATH)".format(a.dsx or "build/bin/dsx"))))
        dsx = Dsx(binary, work)
        song = check_edm(run, dsx, work, "SongUNet", "8x8_block3", 1, (0.0, float("inf"), 0.002, 80.0))
        check_edm(run, dsx, work, "DhariwalUNet", "8x8_block2", 3, (0.01, 50.0, 0.01, 50.0))
        check_edm(run, dsx, work, "DhariwalUNet", "8x8_block2", 5, (0.0, float("inf"), 0.002, 80.0), num_classes=4)
        check_diffusers(run, dsx, work)
        check_module_script(run, dsx, work)
        check_module_trace(run, dsx, work)
        predictor = check_amed_predictor(run, dsx, work, song)
        check_dsx_unet(run, dsx, work, predictor and os.path.basename(predictor))
    finally:
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)
    run.finish("check_exporters", start)


if __name__ == "__main__":
    main()
