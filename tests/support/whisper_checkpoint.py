"""Random-weight Whisper *tiny* checkpoint in the exact OpenAI file layout (test helper).

``tiny.pt`` as shipped by OpenAI and LatentSync is ``{"dims": {...},
"model_state_dict": {...}}`` with float16 tensors, encoder and text decoder.
:func:`write_tiny_checkpoint` writes such a file with seeded weights, so tests
(and the fixture script described in tests/data/README.md) can rebuild the
same model from the seed instead of storing 75 MB of weights.
"""
from __future__ import annotations

import math

import torch

TINY_DIMS = {
    "n_mels": 80,
    "n_vocab": 51865,
    "n_audio_ctx": 1500,
    "n_audio_state": 384,
    "n_audio_head": 6,
    "n_audio_layer": 4,
    "n_text_ctx": 448,
    "n_text_state": 384,
    "n_text_head": 6,
    "n_text_layer": 4,
}


def _sinusoids(length: int, channels: int) -> torch.Tensor:
    """Whisper's fixed encoder position table: [length, channels], sin half then cos half."""
    half = channels // 2
    rates = torch.exp(-math.log(10000) / (half - 1) * torch.arange(half, dtype=torch.float32))
    angles = torch.arange(length, dtype=torch.float32)[:, None] * rates[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def _block_shapes(prefix: str, width: int, cross: bool) -> list[tuple[str, tuple[int, ...]]]:
    def attention(name: str) -> list[tuple[str, tuple[int, ...]]]:
        return [
            (f"{prefix}.{name}.query.weight", (width, width)),
            (f"{prefix}.{name}.query.bias", (width,)),
            (f"{prefix}.{name}.key.weight", (width, width)),
            (f"{prefix}.{name}.value.weight", (width, width)),
            (f"{prefix}.{name}.value.bias", (width,)),
            (f"{prefix}.{name}.out.weight", (width, width)),
            (f"{prefix}.{name}.out.bias", (width,)),
            (f"{prefix}.{name}_ln.weight", (width,)),
            (f"{prefix}.{name}_ln.bias", (width,)),
        ]

    shapes = attention("attn") + (attention("cross_attn") if cross else [])
    return shapes + [
        (f"{prefix}.mlp.0.weight", (4 * width, width)),
        (f"{prefix}.mlp.0.bias", (4 * width,)),
        (f"{prefix}.mlp.2.weight", (width, 4 * width)),
        (f"{prefix}.mlp.2.bias", (width,)),
        (f"{prefix}.mlp_ln.weight", (width,)),
        (f"{prefix}.mlp_ln.bias", (width,)),
    ]


def tiny_state_shapes(dims: dict[str, int] = TINY_DIMS) -> list[tuple[str, tuple[int, ...]]]:
    """Keys and shapes of OpenAI Whisper's ``model_state_dict``, in the file's order."""
    a, t = dims["n_audio_state"], dims["n_text_state"]
    shapes = [
        ("encoder.positional_embedding", (dims["n_audio_ctx"], a)),
        ("encoder.conv1.weight", (a, dims["n_mels"], 3)),
        ("encoder.conv1.bias", (a,)),
        ("encoder.conv2.weight", (a, a, 3)),
        ("encoder.conv2.bias", (a,)),
    ]
    for i in range(dims["n_audio_layer"]):
        shapes += _block_shapes(f"encoder.blocks.{i}", a, cross=False)
    shapes += [("encoder.ln_post.weight", (a,)), ("encoder.ln_post.bias", (a,))]
    shapes += [
        ("decoder.positional_embedding", (dims["n_text_ctx"], t)),
        ("decoder.token_embedding.weight", (dims["n_vocab"], t)),
    ]
    for i in range(dims["n_text_layer"]):
        shapes += _block_shapes(f"decoder.blocks.{i}", t, cross=True)
    return shapes + [("decoder.ln.weight", (t,)), ("decoder.ln.bias", (t,))]


def tiny_state_dict(seed: int = 0, dims: dict[str, int] = TINY_DIMS) -> dict[str, torch.Tensor]:
    """Seeded float16 weights: fan-in scaled matrices, LayerNorm gains near 1, small biases."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in tiny_state_shapes(dims):
        if key == "encoder.positional_embedding":
            value = _sinusoids(*shape)
        elif key.endswith("_ln.weight") or key.endswith("ln_post.weight") or key == "decoder.ln.weight":
            value = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        elif key.endswith(".bias"):
            value = 0.05 * torch.randn(shape, generator=gen)
        elif len(shape) == 1 or key.endswith("embedding") or key.endswith("embedding.weight"):
            value = 0.02 * torch.randn(shape, generator=gen)
        else:
            fan_in = math.prod(shape[1:])
            value = torch.randn(shape, generator=gen) / math.sqrt(fan_in)
        state[key] = value.to(torch.float16)
    return state


def write_tiny_checkpoint(path: str, seed: int = 0) -> str:
    """Write a random-weight Whisper tiny checkpoint in OpenAI's layout to ``path``; returns ``path``."""
    torch.save({"dims": dict(TINY_DIMS), "model_state_dict": tiny_state_dict(seed)}, path)
    return path
