"""Seeded inputs and tiny models for the sampler tests (shared with the fixture script).

Everything here is regenerated identically from seeds: the parity fixture
``tests/data/sampler_parity.npz`` stores only outputs.
"""
from __future__ import annotations

import math
import os

import cv2
import numpy as np
import torch

from latentsync_core.lipsync.vae import TINY_VAE_CONFIG, build_vae
from repo_paths import DATA


def seeded_weights(shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, torch.Tensor]:
    """Seeded float32 tensors for a key -> shape table, drawn in sorted key order.

    Matrices/kernels ~ N(0, 1/fan_in), 1-D ``*.weight`` (norm scales) 1 + 0.1 N(0, 1),
    other 1-D tensors (biases) 0.1 N(0, 1).
    """
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for key in sorted(shapes):
        shape = shapes[key]
        noise = torch.randn(shape, generator=gen, dtype=torch.float32)
        if len(shape) >= 2:
            out[key] = noise / math.sqrt(math.prod(shape[1:]))
        elif key.endswith(".weight"):
            out[key] = 1.0 + 0.1 * noise
        else:
            out[key] = 0.1 * noise
    return out


def tiny_vae(seed: int) -> torch.nn.Module:
    """diffusers ``AutoencoderKL`` with ``TINY_VAE_CONFIG`` and :func:`seeded_weights`."""
    vae = build_vae(TINY_VAE_CONFIG, device="meta")
    shapes = {k: tuple(v.shape) for k, v in vae.state_dict().items()}
    vae.load_state_dict(seeded_weights(shapes, seed), strict=True, assign=True)
    return vae.eval()


def parity_faces(frames: int, size: int = 256) -> np.ndarray:
    """``(frames, size, size, 3)`` uint8 RGB: tests/data/astronaut.png resized to ``size + 8``
    (INTER_AREA) and cropped at offsets that walk a 3 x 3 grid of 1-px shifts around the centre."""
    img = cv2.cvtColor(cv2.imread(os.path.join(DATA, "astronaut.png")), cv2.COLOR_BGR2RGB)
    big = cv2.resize(img, (size + 8, size + 8), interpolation=cv2.INTER_AREA)
    out = []
    for i in range(frames):
        dx, dy = i % 3 - 1, (i // 3) % 3 - 1
        out.append(big[4 + dy : 4 + dy + size, 4 + dx : 4 + dx + size])
    return np.stack(out)


def parity_embeddings(seed: int, frames: int) -> torch.Tensor:
    """``(frames, 50, 384)`` float32 N(0, 1) audio features."""
    return torch.randn((frames, 50, 384), generator=torch.Generator().manual_seed(seed))


def sample_grid(frames: np.ndarray, stride: int = 4) -> np.ndarray:
    """Every ``stride``-th pixel of ``(N, R, R, 3)`` frames: the stored slice of the fixture."""
    return np.ascontiguousarray(frames[:, ::stride, ::stride, :])


class StandInUNet(torch.nn.Module):
    """``(b, 13, f, h, w), t, (b*f, T, 384) -> (b, 4, f, h, w)``: a 3-D conv over space and time,
    plus per-frame audio and timestep terms. Records the shape of every call."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.conv = torch.nn.Conv3d(13, 4, 3, padding=1)
        self.audio = torch.nn.Linear(384, 4)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
        self.calls: list[tuple[int, ...]] = []

    def forward(self, sample, timestep, encoder_hidden_states):
        b, _, f, _, _ = sample.shape
        self.calls.append(tuple(sample.shape))
        audio = self.audio(encoder_hidden_states.mean(1)).view(b, f, 4).permute(0, 2, 1)[..., None, None]
        return self.conv(sample) + audio + float(timestep) / 1000.0
