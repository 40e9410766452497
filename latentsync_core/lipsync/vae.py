"""The Stable Diffusion 1.x VAE that LatentSync works in (stabilityai/sd-vae-ft-mse).

LatentSync uses diffusers' ``AutoencoderKL`` with latents scaled by 0.18215 and no
shift. Users keep the weights as one file (``vae-ft-mse-840000-ema-pruned.safetensors``
in ComfyUI's ``models/vae``) in the original LDM key layout; :func:`load_vae` reads
such a file (or a diffusers-layout one) and loads it strictly into ``AutoencoderKL``.
"""
from __future__ import annotations

import os
from typing import Callable, Mapping

import torch
from diffusers import AutoencoderKL
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint
from diffusers.models.autoencoders.vae import DecoderOutput, DiagonalGaussianDistribution
from diffusers.models.modeling_outputs import AutoencoderKLOutput

from ..errors import BadInputError, MissingModelError
from ..files.model_files import VAE, official_file

LATENT_SCALE = 0.18215
"""Latents are ``(posterior sample - LATENT_SHIFT) * LATENT_SCALE``."""
LATENT_SHIFT = 0.0
LATENT_CHANNELS = 4
VAE_DOWNSCALE = 8
"""Pixels per latent along each side."""

VAE_FILE = official_file(VAE).file_name
VAE_URL = official_file(VAE).url

SD_VAE_CONFIG = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "act_fn": "silu",
    "latent_channels": LATENT_CHANNELS,
    "norm_num_groups": 32,
    "sample_size": 256,
    "scaling_factor": LATENT_SCALE,
}
"""``AutoencoderKL`` config of stabilityai/sd-vae-ft-mse."""

TINY_VAE_CONFIG = {**SD_VAE_CONFIG, "block_out_channels": [8, 8, 16, 16], "layers_per_block": 1, "norm_num_groups": 4}
"""Same structure (4 levels, 8x downscale, 4 latent channels) with narrow blocks, for tests."""

_LDM_PREFIXES = ("first_stage_model.", "vae.")
_VAE_PARTS = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")


def build_vae(config: Mapping | None = None, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> AutoencoderKL:
    """An ``AutoencoderKL`` with ``config`` (default: sd-vae-ft-mse) and diffusers' initial weights, in eval mode."""
    with torch.device(device):
        vae = AutoencoderKL(**dict(config or SD_VAE_CONFIG))
    return _cast(vae, device, dtype)


def _cast(vae: AutoencoderKL, device: torch.device | str, dtype: torch.dtype) -> AutoencoderKL:
    """``vae`` on ``device`` in ``dtype``, in eval mode.

    Through ``torch.nn.Module.to``: diffusers' own ``to()`` logs "modules ... that should be kept in
    float32" for every cast with a dtype, even to float32; the SD VAE has no such module.
    """
    return torch.nn.Module.to(vae, device=device, dtype=dtype).eval()


def _vae_part(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The VAE tensors of a VAE-only or full-model checkpoint, without a model prefix."""
    for prefix in _LDM_PREFIXES:
        if any(k.startswith(prefix + "encoder.") for k in state_dict):
            return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    return {k: v for k, v in state_dict.items() if k.startswith(_VAE_PARTS)}


def vae_from_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    config: Mapping | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    source: str = "the VAE weights",
) -> AutoencoderKL:
    """Build ``AutoencoderKL`` from an LDM-layout or diffusers-layout state dict (strict).

    Args:
        state_dict: VAE tensors, optionally prefixed ``first_stage_model.`` / ``vae.``.
        config: ``AutoencoderKL`` config (default: sd-vae-ft-mse).
        source: name of the weights for error messages.
    """
    config = dict(config or SD_VAE_CONFIG)
    weights = _vae_part(state_dict)
    if "encoder.conv_in.weight" not in weights:
        raise BadInputError(f"{source} hold no VAE encoder; use the SD 1.x VAE {VAE_FILE} ({VAE_URL}).")
    latent_in = weights.get("decoder.conv_in.weight")
    if latent_in is not None and latent_in.shape[1] != LATENT_CHANNELS:
        raise BadInputError(
            f"{source} are a VAE with {latent_in.shape[1]} latent channels; LatentSync needs the SD 1.x VAE "
            f"({LATENT_CHANNELS} channels): {VAE_FILE} from {VAE_URL}."
        )
    if any(".down_blocks." in k for k in weights):
        converted = weights
    else:
        converted = convert_ldm_vae_checkpoint(weights, config)
    vae = build_vae(config, device="meta")
    expected = vae.state_dict()
    resized = [k for k, v in converted.items() if k in expected and v.shape != expected[k].shape]
    missing = [k for k in expected if k not in converted]
    unexpected = [k for k in converted if k not in expected]
    if missing or unexpected or resized:
        raise BadInputError(
            f"{source} do not match the SD 1.x VAE layout ({len(missing)} missing keys, e.g. {missing[:2]}; "
            f"{len(unexpected)} unexpected, e.g. {unexpected[:2]}; {len(resized)} of another shape, e.g. "
            f"{resized[:2]}). Use {VAE_FILE} from {VAE_URL}."
        )
    vae.load_state_dict(converted, strict=True, assign=True)
    return _cast(vae, device, dtype)


def load_vae(
    path: str,
    config: Mapping | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> AutoencoderKL:
    """Load a VAE file (``.safetensors``, or ``.ckpt``/``.pt``/``.bin`` via ``torch.load(weights_only=True)``).

    Raises:
        MissingModelError: the file does not exist.
        BadInputError: the file is not an SD 1.x VAE.
    """
    if not os.path.isfile(path):
        raise MissingModelError(os.path.basename(path) or VAE_FILE, os.path.dirname(path) or ".", VAE_URL)
    if path.endswith(".safetensors"):
        from safetensors.torch import load_file

        state_dict = load_file(path, device="cpu")
    else:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
        state_dict = state_dict.get("state_dict", state_dict)
    return vae_from_state_dict(state_dict, config, device, dtype, source=f"'{os.path.basename(path)}'")


FramesPerCall = Callable[[str, torch.Size], int]
"""``frames_per_call(kind, shape)``: how many frames of an ``"encode"`` / ``"decode"`` input of ``shape`` to run at once."""


class SubBatchedVAE(torch.nn.Module):
    """An ``AutoencoderKL`` run in sub-batches, on its own device, with results on the caller's device.

    ``encode(x).latent_dist`` is the posterior of the whole batch (the moments of every sub-batch joined),
    so ``.sample(generator)`` draws one noise tensor for all frames, as one ``AutoencoderKL.encode`` call
    would: sub-batching changes neither the random numbers nor their order. ``decode(z).sample`` joins
    the decoded sub-batches. Inputs move to the VAE's device (ComfyUI's ``--cpu-vae``) and outputs back.
    """

    def __init__(self, vae: AutoencoderKL, frames_per_call: FramesPerCall) -> None:
        super().__init__()
        self.vae = vae
        self.frames_per_call = frames_per_call

    def _run(self, kind: str, x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        device = next(self.vae.parameters()).device
        step = max(1, int(self.frames_per_call(kind, x.shape)))
        parts = [fn(x[i:i + step].to(device)).to(x.device) for i in range(0, x.shape[0], step)]
        return torch.cat(parts)

    def encode(self, x: torch.Tensor) -> AutoencoderKLOutput:
        """``(f, 3, R, R)`` -> posterior over ``(f, 4, R/8, R/8)`` latents (unscaled)."""
        moments = self._run("encode", x, lambda part: self.vae.encode(part).latent_dist.parameters)
        return AutoencoderKLOutput(latent_dist=DiagonalGaussianDistribution(moments))

    def decode(self, z: torch.Tensor) -> DecoderOutput:
        """``(f, 4, h, w)`` unscaled latents -> ``.sample`` ``(f, 3, 8h, 8w)``."""
        return DecoderOutput(sample=self._run("decode", z, lambda part: self.vae.decode(part).sample))
