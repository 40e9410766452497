"""The lip-sync command line on tiny random models: their models folder, the sample clip's speech,
lossless clips, the flags of a quick run and the one-line error it must print.

The models are random, in the official layouts: the LatentSync UNet with the reference key names of
the tiny architecture (unet_fixtures.py), a random Whisper tiny in OpenAI's layout
(whisper_checkpoint.py), the tiny VAE of the sampler tests in diffusers keys. The
``tiny_architectures`` fixture (tests/conftest.py) makes the released configs load them.
"""
from __future__ import annotations

import os

import av
import numpy as np
import torch

from audio_files import write_audio
from latentsync_core.media.audio_io import read_audio
from repo_paths import ROOT
from sampler_fixtures import tiny_vae
from unet_fixtures import reference_key_shapes, reference_weights
from whisper_checkpoint import write_tiny_checkpoint

SAMPLE = os.path.join(ROOT, "example_workflows", "sample", "astronaut_speech.mp4")
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


def write_lossless(path, frames: np.ndarray, fps: int = 25) -> str:
    """``frames`` as an FFV1 .mkv (decodes bit for bit), no sound."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "bgr0"
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    return str(path)


def speech(path, frames: int, fps: int = 25, rate: int = 16000) -> str:
    """The sample's own speech cut to ``frames`` video frames, as a wav."""
    audio = read_audio(SAMPLE)
    n = round(frames * audio.sample_rate / fps)
    write_audio(path, audio.waveform[:, :n].numpy(), audio.sample_rate, "pcm_s16le")
    return str(path)


def assert_one_line_error(err: str, *words: str) -> None:
    """Exactly one line on stderr, ours, naming ``words``."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("latentsync lipsync: "), err
    for word in words:
        assert word in lines[0], lines[0]
