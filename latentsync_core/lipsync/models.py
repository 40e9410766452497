"""Load the LatentSync UNet and its Whisper encoder, with their checks; check SD VAE weights.

The paths come from :func:`latentsync_core.files.model_files.resolve_paths` (which also fetches
missing official files); the SD VAE is loaded by its own loader
(:func:`latentsync_core.lipsync.vae.load_vae`, or ComfyUI's VAE in the nodes, which loads any
weights it is given without complaint: :func:`check_sd_vae` refuses others first).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import torch

from .checkpoints import CONFIGS, identify_version, load_unet
from ..files.model_files import ModelPaths
from .unet import LatentSyncUNetConfig
from .vae import vae_from_state_dict
from .whisper import load_whisper

@dataclass(frozen=True)
class LatentSyncModels:
    """UNet and Whisper encoder, in eval mode.

    Attributes:
        unet: ``LatentSyncUNet`` in ``dtype``.
        whisper: ``WhisperAudioEncoder`` in ``whisper_dtype``.
        version: "1.5"/"1.6".
        config: the UNet architecture; ``config.resolution`` is the face size (256 / 512).
        dtype: the UNet's dtype.
    """

    unet: torch.nn.Module
    whisper: torch.nn.Module
    version: str
    config: LatentSyncUNetConfig
    dtype: torch.dtype


def load_models(
    paths: ModelPaths,
    version: str | None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    unet_config: LatentSyncUNetConfig | None = None,
    whisper_dtype: torch.dtype | None = None,
) -> LatentSyncModels:
    """Load the UNet (layout and version checked) and the Whisper encoder onto ``device``.

    Args:
        paths: from :func:`~latentsync_core.files.model_files.resolve_paths`.
        version: "1.5", "1.6" or None to read it from the UNet's folder name; a choice the
            folder contradicts is refused (``BadInputError``).
        device: where the models are placed.
        dtype: UNet dtype; Whisper runs in float16 when this is float16, else in float32.
        unet_config: an architecture other than the version's released one (tests).
        whisper_dtype: Whisper's dtype; None: float16 when ``dtype`` is float16, else float32.
    """
    version = identify_version(paths.unet, version)
    config = unet_config or CONFIGS[version]()
    # The version is settled: load against its config without identifying it again (hashing 5 GB).
    loaded = load_unet(paths.unet, None, config=config, device=device, dtype=dtype)
    if whisper_dtype is None:
        whisper_dtype = torch.float16 if dtype == torch.float16 else torch.float32
    whisper = load_whisper(paths.whisper, device=device, dtype=whisper_dtype)
    return LatentSyncModels(unet=loaded.unet, whisper=whisper, version=version, config=config, dtype=dtype)


def check_sd_vae(state_dict: Mapping[str, torch.Tensor], name: str) -> None:
    """Raise ``BadInputError`` unless ``state_dict`` holds the complete SD 1.x VAE (LDM or diffusers keys).

    Runs the strict load of :func:`~latentsync_core.lipsync.vae.vae_from_state_dict` on the meta
    device, so no weights are copied.
    """
    vae_from_state_dict(state_dict, device="meta", source=f"'{name}'")
