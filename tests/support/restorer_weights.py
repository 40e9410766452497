"""Helpers (no tests): seeded random weights and the fixed face for the restorer parity tests.

The same functions produced the fixtures in ``tests/data/restorers_*.npz`` from the
official GFPGAN / CodeFormer architectures (see ``test_restorers_parity.py``), so the
tests regenerate bit-identical weights without storing them.
"""
from __future__ import annotations

import hashlib
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from repo_paths import DATA

GFPGAN_SEED = 1234
CODEFORMER_SEED = 4321
FACE_BOX = (10, 130, 192)  # (top, left, side) of the astronaut's face in astronaut.png


# Down-scaled modules (key prefixes): SFT/fusion convs whose outputs multiply or add
# onto features at every level, and CodeFormer's output conv.
_GAINS = {"condition_": 0.5, "fuse_convs_dict.": 0.3, "generator.blocks.24.": 0.4}


def _init_tensor(key: str, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    """One tensor of the random init; the rule depends only on key name and shape.

    Variance-preserving (std 1/sqrt(fan_in)) for matrices and kernels so activations
    stay O(1) through the deep nets (the modules in ``_GAINS`` scaled down,
    GFPGAN's to-RGB kernels at 0.2, so outputs land near [-1, 1]); norms near 1; biases near 0; StyleGAN's stored
    noise maps and the constant input unit normal; StyleGAN's modulated kernels
    ``[1, out, in, k, k]`` std 1/sqrt(in*k*k), as the clean architecture stores them;
    StyleGAN noise strengths 0.1 so the stored noise visibly matters.
    """
    noise = torch.randn(shape, generator=gen, dtype=torch.float32)
    leaf = key.rsplit(".", 1)[-1]
    if ".noises." in key or "constant_input" in key:
        return noise
    if "modulated_conv.weight" in key:
        gain = 0.2 if "to_rgb" in key else 1.0
        return noise * (gain / math.sqrt(math.prod(shape[2:])))
    if len(shape) >= 2 and leaf != "bias":
        gain = next((g for prefix, g in _GAINS.items() if key.startswith(prefix)), 1.0)
        return noise * (gain / math.sqrt(math.prod(shape[1:])))
    if leaf == "weight" and shape == (1,):
        return 0.1 + 0.02 * noise
    if leaf == "weight":
        return 1.0 + 0.1 * noise
    if "modulation.bias" in key:
        return 1.0 + 0.1 * noise
    return 0.02 * noise


def seeded_state_dict(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, torch.Tensor]:
    """Random float32 weights for the given ``{key: shape}``, drawn in sorted key order."""
    gen = torch.Generator().manual_seed(seed)
    return {key: _init_tensor(key, tuple(shapes[key]), gen) for key in sorted(shapes)}


def state_dict_digest(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over sorted keys and the raw float32 bytes: proves two weight sets are identical."""
    h = hashlib.sha256()
    for key in sorted(state_dict):
        h.update(key.encode())
        h.update(state_dict[key].detach().to(torch.float32).contiguous().numpy().tobytes())
    return h.hexdigest()


def face_image(size: int = 512) -> torch.Tensor:
    """``[1, 3, size, size]`` float32 in [0, 1]: the astronaut's face, bilinearly resized."""
    img = np.asarray(Image.open(os.path.join(DATA, "astronaut.png")).convert("RGB"))
    top, left, side = FACE_BOX
    crop = torch.from_numpy(img[top:top + side, left:left + side].copy()).permute(2, 0, 1)
    crop = crop[None].to(torch.float32) / 255.0
    return F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False).clamp(0.0, 1.0)


def load_fixture(name: str) -> dict[str, np.ndarray]:
    """Arrays of ``tests/data/restorers_{name}.npz``."""
    with np.load(os.path.join(DATA, f"restorers_{name}.npz")) as data:
        return {key: data[key] for key in data.files}


def max_fixture_diff(output: torch.Tensor, expected: dict[str, np.ndarray]) -> float:
    """Largest deviation of ``output`` ``[1, 3, 512, 512]`` from a fixture's summary."""
    got = summarise_output(output)
    return max(float(np.abs(got[key] - expected[key]).max()) for key in ("strided", "pooled", "stats"))


def summarise_output(image: torch.Tensor) -> dict[str, np.ndarray]:
    """Compact float32 record of a ``[1, 3, 512, 512]`` output for the fixtures.

    ``strided``: every 8th pixel (offset 3), exact values; ``pooled``: 8x8 block means,
    so every pixel contributes; ``stats``: full-resolution min, max, mean, std.
    """
    image = image.detach().to(torch.float32)
    return {
        "strided": image[0, :, 3::8, 3::8].numpy().copy(),
        "pooled": F.avg_pool2d(image, 8)[0].numpy().copy(),
        "stats": np.array([image.min(), image.max(), image.mean(), image.std()], dtype=np.float32),
    }
