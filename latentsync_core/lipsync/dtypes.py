"""One dtype policy for the UNet, the VAE, Whisper and the face restorers.

The models run in float32, float16 or bfloat16 only. Any other request (a float8 weight
dtype from ComfyUI's ``--fp8_*`` flags, float64) maps to the nearest supported choice, and
bfloat16 is used only where the hardware runs it natively: CUDA compute capability >= 8.0
(``torch.cuda.is_bf16_supported()`` also says yes on older cards, where it is emulated and
slow) or the CPU. :func:`resolve_dtype` returns the dtype and, when it differs from the
request, one sentence saying why. Both front-ends reach it through
:func:`latentsync_core.run.host.model_dtype`, which passes the host's compute capability in
(so the rules are testable without a GPU) and has the host say the sentence once.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
"""Names of the dtypes a user can choose."""
SUPPORTED = tuple(DTYPES.values())

HALF_OK = "half_ok"
"""Role whose networks run in float16 (UNet, Whisper): non-native bf16 falls back to fp16."""
NO_FP16 = "no_fp16"
"""Role whose networks overflow in float16 (face restorers): fp16 and non-native bf16 fall back to fp32."""
BF16_MIN_CAPABILITY = (8, 0)
"""CUDA compute capability from which bfloat16 runs natively (Ampere)."""


@dataclass(frozen=True)
class DtypeChoice:
    dtype: torch.dtype
    note: str | None = None
    """Why ``dtype`` differs from the request (None when it does not)."""


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


Capability = tuple[int, int]
"""A CUDA card's compute capability, e.g. ``(8, 6)``."""


def cuda_capability(device: torch.device | str) -> Capability | None:
    """The compute capability of CUDA ``device``; None for any other device."""
    device = torch.device(device)
    return torch.cuda.get_device_capability(device) if device.type == "cuda" else None


def bf16_native(device: torch.device | str, capability: Capability | None = None) -> bool:
    """bfloat16 runs natively on ``device``: a CUDA card of compute capability >= 8.0, or the CPU.

    ``capability`` is the CUDA card's (None: asked from torch).
    """
    device = torch.device(device)
    if device.type == "cuda":
        return (capability or cuda_capability(device)) >= BF16_MIN_CAPABILITY
    return device.type == "cpu"


def resolve_dtype(requested: torch.dtype, device: torch.device | str, role: str = HALF_OK, what: str = "model",
                  capability: Capability | None = None) -> DtypeChoice:
    """The supported dtype nearest to ``requested`` for a ``what`` network of ``role`` on ``device``.

    float64 -> float32; float8 (any) -> bfloat16 where native, else float16 (``HALF_OK``) or float32;
    bfloat16 where not native -> float16 (``HALF_OK``) or float32; float16 for ``NO_FP16`` -> bfloat16
    where native, else float32. ``capability``: the CUDA card's (None: asked from torch).
    """
    native = bf16_native(device, capability)
    half = torch.float16 if role == HALF_OK else torch.float32
    if requested == torch.float64:
        dtype, why = torch.float32, "double precision gains nothing here"
    elif requested.is_floating_point and requested.itemsize == 1:
        dtype, why = (torch.bfloat16 if native else half), "LatentSync cannot compute in 8-bit floats"
    elif requested == torch.bfloat16 and not native:
        dtype, why = half, f"{torch.device(device)} has no native bfloat16 (needs compute capability >= 8.0)"
    elif requested == torch.float16 and role == NO_FP16:
        dtype, why = (torch.bfloat16 if native else torch.float32), f"the {what} overflows in float16"
    elif requested in SUPPORTED:
        return DtypeChoice(requested)
    else:
        dtype, why = torch.float32, "only float32, float16 and bfloat16 are supported"
    return DtypeChoice(dtype, f"{what} in {dtype_name(dtype)} instead of {dtype_name(requested)}: {why}.")
