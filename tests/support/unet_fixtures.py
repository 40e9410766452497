"""Shared helpers for the UNet and checkpoint tests: reference key lists and seeded weights.

``tests/data/unet_reference_keys.json`` lists every state-dict key and shape of the
reference ``UNet3DConditionModel`` (bytedance/LatentSync a229c39, built from its
``latentsync/models`` code) for four configurations:

* ``full``: configs/unet/stage2.yaml (== stage2_512.yaml's model), built on the meta device;
* ``tiny``: the same with block_out_channels [32, 64, 64, 64];
* ``tiny_efficient``: tiny with ``motion_module_decoder_only: true`` (stage2_efficient.yaml);
* ``tiny_no_motion``: tiny with ``use_motion_module: false`` (stage1.yaml, the 1.0 layout);
* ``mid``: stage2.yaml with block_out_channels [128, 256, 512, 512] (slow parity test).

``reference_weights`` fills such a key list with seeded random values; the parity fixtures
``tests/data/unet_parity_{tiny,mid,v15}.npz`` were made by loading exactly these weights into the
reference model (see tests/unit/lipsync/test_unet_parity.py).
"""
from __future__ import annotations

import json
import math
import os

import torch

from repo_paths import DATA
from sampler_fixtures import seeded_weights

REFERENCE_KEYS = os.path.join(DATA, "unet_reference_keys.json")


def reference_key_shapes(layout: str) -> dict[str, tuple[int, ...]]:
    """Reference state-dict keys -> shapes for ``layout`` (full, mid, tiny, tiny_efficient, tiny_no_motion)."""
    with open(REFERENCE_KEYS) as f:
        table = json.load(f)[layout]
    return {k: tuple(v) for k, v in table.items()}


def sinusoid_table(length: int, dim: int) -> torch.Tensor:
    """``(1, length, dim)`` transformer positional table: sin on even, cos on odd channels."""
    position = torch.arange(length).unsqueeze(1)
    div = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
    table = torch.zeros(1, length, dim)
    table[0, :, 0::2] = torch.sin(position * div)
    table[0, :, 1::2] = torch.cos(position * div)
    return table


def reference_weights(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, torch.Tensor]:
    """Seeded float32 weights for a key list (:func:`sampler_fixtures.seeded_weights`);
    ``*.pe`` keys draw nothing and get the sinusoidal table they hold in real checkpoints."""
    out = seeded_weights({k: v for k, v in shapes.items() if not k.endswith(".pe")}, seed)
    out.update({k: sinusoid_table(v[1], v[2]) for k, v in shapes.items() if k.endswith(".pe")})
    return out


def parity_inputs(seed: int, frames: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded UNet inputs: sample ``(1, 13, frames, size, size)`` and audio ``(frames, 50, 384)``, N(0, 1)."""
    gen = torch.Generator().manual_seed(seed)
    sample = torch.randn((1, 13, frames, size, size), generator=gen)
    audio = torch.randn((frames, 50, 384), generator=gen)
    return sample, audio
