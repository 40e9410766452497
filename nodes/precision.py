"""The pack's dtype policy (``latentsync_core.lipsync.dtypes``) fed with ComfyUI's choices and flags.

Every loader node asks here: the UNet follows ``--fp16-unet`` / ``--bf16-unet`` / ``--fp8_*-unet`` etc.
through ``mm.unet_dtype``, the VAE takes the dtype ComfyUI's VAE picked, Whisper one rule for both the
Whisper Loader and the Model Loader, the restorers bf16 where native. A changed choice is logged once.
"""
from __future__ import annotations

import logging

import comfy.model_management as mm
import torch

from ..latentsync_core.lipsync.dtypes import DTYPES, HALF_OK, NO_FP16, resolve_dtype

log = logging.getLogger(__name__)
AUTO = "auto"
_said: set[str] = set()


def _settle(requested: torch.dtype, device: torch.device, role: str, what: str) -> torch.dtype:
    choice = resolve_dtype(requested, device, role, what)
    if choice.note and choice.note not in _said:
        _said.add(choice.note)
        log.warning("LatentSync: %s", choice.note)
    return choice.dtype


def unet_dtype(choice: str, device: torch.device) -> torch.dtype:
    """The UNet's dtype: the user's choice, or ComfyUI's for ``device`` (its ``--*-unet`` flags included)."""
    requested = DTYPES[choice] if choice != AUTO else mm.unet_dtype(device=device, supported_dtypes=[torch.float16, torch.bfloat16, torch.float32])
    return _settle(requested, device, HALF_OK, "the LatentSync UNet")


def vae_dtype(requested: torch.dtype, device: torch.device) -> torch.dtype:
    """The SD VAE's dtype from ComfyUI's VAE choice (``VAE.vae_dtype``); SD 1.x's VAE is not run in fp16."""
    return _settle(requested, device, NO_FP16, "the SD VAE")


def whisper_dtype(device: torch.device) -> torch.dtype:
    """Whisper tiny's dtype, for both loader nodes: float16 where ComfyUI uses fp16 on ``device``, else float32."""
    requested = torch.float16 if mm.should_use_fp16(device) else torch.float32
    return _settle(requested, device, HALF_OK, "Whisper")


def restorer_dtype(choice: str, device: torch.device) -> torch.dtype:
    """GFPGAN / CodeFormer dtype: auto is bfloat16 on CUDA (where native), else float32; never float16."""
    requested = DTYPES[choice] if choice != AUTO else (torch.bfloat16 if device.type == "cuda" else torch.float32)
    return _settle(requested, device, NO_FP16, "the face restorer")
