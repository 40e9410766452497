"""Real-ESRGAN upscaler files in the official layout (no tests here).

The official ``RealESRGAN_x4plus.pth`` / ``RealESRGAN_x2plus.pth`` are ``{"params_ema": state_dict}``
of basicsr's ``RRDBNet`` (64 features, 23 blocks, growth 32; the x2 model pixel-unshuffles its
input, so its first conv takes 12 channels). The key names and shapes are written out here
from that layout, with one narrower block (16 features; spandrel reads the growth of 32 as fixed) so the tests
run in seconds:

- :func:`realesrgan_state_dict`: seeded random weights;
- :func:`nearest_state_dict`: weights that make the x4 network an exact nearest-neighbour
  upscaler (identity convolutions, the residual branches switched off), so what it does to
  a frame is known pixel for pixel and the geometry of the paste can be checked.
"""
from __future__ import annotations

import math

import torch


def rrdb_shapes(scale: int, features: int = 16, growth: int = 32, blocks: int = 1) -> dict[str, tuple[int, ...]]:
    """Key -> shape of a Real-ESRGAN ``RRDBNet`` for ``scale`` 2 or 4 (new-arch key names)."""
    in_ch = 3 * {4: 1, 2: 4}[scale]
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(name: str, cout: int, cin: int) -> None:
        shapes[f"{name}.weight"] = (cout, cin, 3, 3)
        shapes[f"{name}.bias"] = (cout,)

    conv("conv_first", features, in_ch)
    for b in range(blocks):
        for r in (1, 2, 3):
            for c in range(1, 6):
                cout = features if c == 5 else growth
                conv(f"body.{b}.rdb{r}.conv{c}", cout, features + (c - 1) * growth)
    for name in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        conv(name, features, features)
    conv("conv_last", 3, features)
    return shapes


def realesrgan_state_dict(scale: int, seed: int = 0, **sizes) -> dict[str, dict[str, torch.Tensor]]:
    """``{"params_ema": ...}`` with seeded random weights (kernels ~ N(0, 1/fan_in), biases 0.01 N(0, 1))."""
    gen = torch.Generator().manual_seed(seed)
    weights = {}
    for key, shape in sorted(rrdb_shapes(scale, **sizes).items()):
        noise = torch.randn(shape, generator=gen)
        weights[key] = noise / math.sqrt(math.prod(shape[1:])) if len(shape) > 1 else 0.01 * noise
    return {"params_ema": weights}


def nearest_state_dict(**sizes) -> dict[str, dict[str, torch.Tensor]]:
    """``{"params_ema": ...}`` of an x4 RRDBNet that upscales with nearest neighbours, exactly.

    Every conv is zero except the centre taps that carry the three colour channels
    through; the dense blocks and ``conv_body`` are zero, so the trunk adds nothing and
    the two nearest-neighbour x2 steps of the network do the upscaling. Inputs are 0..1,
    where the network's leaky ReLUs are the identity.
    """
    weights = {key: torch.zeros(shape) for key, shape in rrdb_shapes(4, **sizes).items()}
    for c in range(3):
        for name in ("conv_first", "conv_up1", "conv_up2", "conv_hr", "conv_last"):
            weights[f"{name}.weight"][c, c, 1, 1] = 1.0
    return {"params_ema": weights}
