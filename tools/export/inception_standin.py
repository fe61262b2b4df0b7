#!/usr/bin/env python3
"""A small TorchScript stand-in for StyleGAN2-ADA/EDM's `inception-2015-12-05.pt` feature detector.

  /usr/bin/python3 tools/export/inception_standin.py --out inception_standin.pt

The real detector (NVlabs' TorchScript port of TF Inception-v3, ~90 MB) cannot be downloaded offline, so
tests of `dsx fid --inception FILE.pt` run against this file instead. It has the same interface:

  forward(img: uint8 [N, 3, H, W] in 0..255, return_features: bool = False)
      -> float32 [N, 2048] pool features (return_features=True) or [N, 1008] logits (False)

and, like the real one, refuses anything but a 4-D uint8 tensor with 3 channels and resizes to 299×299
itself (so callers pass images at their native resolution). Inside: (x − 128)/128, two stride-2 3×3
convolutions with ReLU (3 → 16 → 32 channels), a global average pool and fixed linear heads. The weights
come from torch.manual_seed(0), so the file is deterministic for a given torch version; the numbers it
produces mean nothing — only the interface and the preprocessing contract are real.
"""

import argparse
import os

import torch
import torch.nn.functional as F
from torch import nn


class InceptionStandIn(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1)
        self.features = nn.Linear(32, 2048)
        self.logits = nn.Linear(32, 1008)

    def forward(self, img: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        # The real detector asserts the same contract; a caller that forgets the uint8 conversion or the
        # grey -> RGB repeat must fail loudly rather than get features of the wrong input.
        if img.dim() != 4 or img.dtype != torch.uint8 or img.size(1) != 3:
            # (TorchScript formats a dtype as its enum number, so name only what matters.)
            raise RuntimeError("inception stand-in: expected uint8 [N, 3, H, W] images, got {} of shape {}"
                               .format("uint8" if img.dtype == torch.uint8 else "a non-uint8 tensor", img.shape))
        x = img.to(torch.float32)
        x = F.interpolate(x, size=[299, 299], mode="bilinear", align_corners=False)
        x = (x - 128.0) / 128.0
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        pooled = x.mean(dim=[2, 3])
        if return_features:
            return self.features(pooled)
        return self.logits(pooled)


def export_standin(path):
    net = InceptionStandIn().eval()
    for param in net.parameters():  # a fixed detector: its outputs carry no autograd graph
        param.requires_grad_(False)
    module = torch.jit.script(net)
    module.save(path)
    return module


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, metavar="FILE.pt", help="where to write the TorchScript file")
    a = p.parse_args()
    out_dir = os.path.dirname(os.path.abspath(a.out))
    os.makedirs(out_dir, exist_ok=True)
    export_standin(a.out)
    print("wrote {} ({} bytes)".format(a.out, os.path.getsize(a.out)))


if __name__ == "__main__":
    main()
