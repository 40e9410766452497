"""A lip-sync job on tiny random models (tiny LatentSync UNet, tiny VAE, random Whisper tiny) over jittered
astronaut clips written losslessly: what the job's tests share."""
from __future__ import annotations

import math
import os
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from clips import astronaut, jitter_affines, render
from latentsync_core.job import LipSyncModels
from latentsync_core.lipsync.unet import LatentSyncUNetConfig, build_unet, map_reference_state_dict
from latentsync_core.lipsync.whisper import load_whisper
from latentsync_core.media.video_io import VideoInfo, VideoWriter, probe, read_windows
from sampler_fixtures import tiny_vae
from unet_fixtures import reference_key_shapes, reference_weights
from whisper_checkpoint import write_tiny_checkpoint

RATE = 16000
FPS = Fraction(25)
BASE = np.array([[1.0, 0.0, 64.0], [0.0, 1.0, -16.0]])


def tiny_models(folder) -> LipSyncModels:
    """The random models (the Whisper checkpoint is written in ``folder``)."""
    unet = build_unet(LatentSyncUNetConfig.tiny(), device="meta")
    unet.load_state_dict(map_reference_state_dict(reference_weights(reference_key_shapes("tiny"), 3)), strict=True, assign=True)
    whisper = load_whisper(write_tiny_checkpoint(str(folder / "tiny.pt"), seed=5))
    return LipSyncModels(unet, tiny_vae(4), whisper)


def face_clip(n: int, seed: int) -> np.ndarray:
    """``(n, 480, 640, 3)`` uint8 jittered astronaut frames."""
    frames = render(astronaut(), jitter_affines(n, seed=seed, base=BASE))
    return (frames.numpy() * 255).round().astype(np.uint8)


def speech(frames: int, seed: int = 0) -> torch.Tensor:
    """``[1, T]`` amplitude-modulated tones with noise lasting ``frames`` video frames at 25 fps."""
    t = torch.arange(round(frames / 25 * RATE)) / RATE
    noise = torch.randn(t.shape, generator=torch.Generator().manual_seed(seed))
    voice = torch.sin(2 * math.pi * 140 * t) + 0.5 * torch.sin(2 * math.pi * 420 * t) + 0.2 * noise
    return (0.3 * (0.6 + 0.4 * torch.sin(2 * math.pi * 4 * t)) * voice)[None]


def write_lossless(path, frames: np.ndarray) -> None:
    """``frames`` as a lossless video at 25 fps."""
    n, h, w, _ = frames.shape
    info = VideoInfo(str(path) + ".none", w, h, FPS, Fraction(1, 25), 0, n, None, None)
    with VideoWriter(path, info, crf=0) as writer:
        writer.write(frames, np.arange(n))


def decode(path) -> np.ndarray:
    """Every frame of ``path``, RGB."""
    return np.concatenate([w.frames for w in read_windows(probe(path))])


def records(work: str) -> int:
    """Finished segments in the work folder ``work`` (their records)."""
    if not os.path.isdir(work):
        return 0
    return sum(name.endswith(".json") and name != "manifest.json" for name in os.listdir(work))


def run_until(clip: str, frames: int, out: str, options, segments: int, ready: str, folder: str) -> None:
    """A child process's lip-sync of ``clip`` to ``speech(frames)`` into ``out``: past ``segments`` finished segments,
    in the middle of the next one, it creates the file ``ready`` and waits (to be killed)."""
    from latentsync_core.face.aligner import FaceAligner
    from latentsync_core.face.landmarks import get_backend
    from latentsync_core.job import LipSyncJob

    torch.set_num_threads(1)
    work = os.path.join(os.path.dirname(out), f".{os.path.basename(out)}.work")
    checks = []

    def check() -> None:
        if records(work) >= segments:
            checks.append(1)
            if len(checks) == 3:
                open(ready, "w").close()
                time.sleep(600)

    job = LipSyncJob(clip, speech(frames), RATE, tiny_models(Path(folder)), FaceAligner(get_backend("mediapipe")),
                     options, check_interrupt=check)
    job.write(out)
