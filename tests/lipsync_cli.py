"""Models folders for the lip-sync command line on tiny random models.

The models are random, in the official layouts: the LatentSync UNet with the reference key names of
the tiny architecture (unet_fixtures.py), a random Whisper tiny in OpenAI's layout
(whisper_checkpoint.py), the tiny VAE of the sampler tests in diffusers keys. The
``tiny_architectures`` fixture (tests/conftest.py) makes the released configs load them.
"""
from __future__ import annotations

import os

import torch

from sampler_fixtures import tiny_vae
from unet_fixtures import reference_key_shapes, reference_weights
from whisper_checkpoint import write_tiny_checkpoint

#: Flags of a quick lip-sync run on the CPU with the models of :func:`write_lipsync_models`.
FAST = ["--inference_steps", "2", "--guidance_scale", "1", "--device", "cpu", "--offline", "--landmark_cache", "off"]


def write_lipsync_models(root) -> dict[str, bytes]:
    """UNet + Whisper for both versions and the VAE under ``root``; returns relative path -> bytes."""
    for version, seed in (("1.5", 3), ("1.6", 4)):
        folder = root / "latentsync" / f"LatentSync-{version}"
        (folder / "whisper").mkdir(parents=True)
        torch.save({"state_dict": reference_weights(reference_key_shapes("tiny"), seed)}, folder / "latentsync_unet.pt")
        write_tiny_checkpoint(str(folder / "whisper" / "tiny.pt"), seed=seed)
    (root / "vae").mkdir()
    from safetensors.torch import save_file

    save_file(tiny_vae(5).state_dict(), str(root / "vae" / "vae-ft-mse-840000-ema-pruned.safetensors"))
    return {os.path.relpath(p, root): open(p, "rb").read() for p in map(str, root.rglob("*")) if os.path.isfile(p)}
