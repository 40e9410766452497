"""The SD 1.x VAE's original (LDM) key layout, written from a diffusers ``AutoencoderKL``.

An independent diffusers -> LDM key map (the layout of ``vae-ft-mse-840000-ema-pruned``:
``encoder.down.{i}.block.{j}``, ``mid.attn_1.{q,k,v,proj_out}`` as 1x1 convs, ...), so a load
of such a file must reproduce the original tensors exactly.
"""
from __future__ import annotations

import re

import torch

_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def _to_ldm_key(key: str, levels: int) -> str:
    key = key.replace("conv_shortcut", "nin_shortcut").replace("conv_norm_out", "norm_out")
    key = re.sub(r"down_blocks\.(\d+)\.resnets\.", r"down.\1.block.", key)
    key = re.sub(r"down_blocks\.(\d+)\.downsamplers\.0\.", r"down.\1.downsample.", key)
    key = re.sub(r"up_blocks\.(\d+)\.resnets\.", lambda m: f"up.{levels - 1 - int(m[1])}.block.", key)
    key = re.sub(r"up_blocks\.(\d+)\.upsamplers\.0\.", lambda m: f"up.{levels - 1 - int(m[1])}.upsample.", key)
    key = re.sub(r"mid_block\.resnets\.(\d+)\.", lambda m: f"mid.block_{int(m[1]) + 1}.", key)
    for new, old in _ATTN.items():
        key = key.replace(f"mid_block.attentions.0.{new}.", f"mid.attn_1.{old}.")
    return key


def ldm_state_dict(vae: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A diffusers ``AutoencoderKL``'s weights in the original (LDM) key layout of the SD 1.x VAE files."""
    levels = len(vae.config.block_out_channels)
    out = {}
    for key, value in vae.state_dict().items():
        ldm = _to_ldm_key(key, levels)
        if ".attn_1." in ldm and ldm.endswith(".weight") and value.ndim == 2:
            value = value[:, :, None, None]
        out[ldm] = value.clone()
    return out
