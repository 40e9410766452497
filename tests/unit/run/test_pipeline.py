"""End-to-end lip-sync (latentsync_core.job.lip_sync) on short synthesised clips.

Models are random: the tiny LatentSync UNet (``unet_fixtures``), the tiny VAE
(``sampler_fixtures``) and a random Whisper tiny in OpenAI's file layout
(``whisper_checkpoint``); faces are found by mediapipe in astronaut clips
(``tests/support/clips.py``). The output is not a real lip-sync; what is checked is that
every length mode and frame rate runs to the end with the right frame count and
audio length, that each output frame comes from the source frame the audio's
frame map names (changed only inside that frame's face), and that cutaway frames
pass through bit for bit.
"""
import math

import cv2
import numpy as np
import pytest
import torch

from latentsync_core.face.aligner import FaceAligner
from latentsync_core.face.landmarks import get_backend
from latentsync_core.job import JobOptions, LipSyncModels
from latentsync_core.job import lip_sync
from latentsync_core.lipsync.sampler import SamplerSettings
from latentsync_core.lipsync.unet import LatentSyncUNetConfig, build_unet, map_reference_state_dict
from latentsync_core.lipsync.whisper import load_whisper
from sampler_fixtures import tiny_vae
from clips import astronaut, cutaway, jitter_affines, render, to_frames
from unet_fixtures import reference_key_shapes, reference_weights
from whisper_checkpoint import write_tiny_checkpoint

BASE = np.array([[1.0, 0.0, 64.0], [0.0, 1.0, -16.0]])
SAMPLE_RATE = 16000
SETTINGS = SamplerSettings(steps=2, guidance_scale=1.0, seed=7)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    unet = build_unet(LatentSyncUNetConfig.tiny(), device="meta")
    unet.load_state_dict(map_reference_state_dict(reference_weights(reference_key_shapes("tiny"), 3)), strict=True, assign=True)
    whisper = load_whisper(write_tiny_checkpoint(str(tmp_path_factory.mktemp("whisper") / "tiny.pt"), seed=5))
    return unet, tiny_vae(4), whisper


@pytest.fixture(scope="module")
def backend():
    return get_backend("mediapipe")


def clip(n: int, seed: int = 1) -> torch.Tensor:
    """``[n, 480, 640, 3]`` jittered astronaut frames."""
    return render(astronaut(), jitter_affines(n, seed=seed, base=BASE))


def speech(seconds: float, seed: int = 0) -> torch.Tensor:
    """``[1, T]`` a syllable-rate amplitude-modulated tone mix with noise, 16 kHz."""
    t = torch.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    noise = torch.randn(t.shape, generator=torch.Generator().manual_seed(seed))
    voice = torch.sin(2 * math.pi * 140 * t) + 0.5 * torch.sin(2 * math.pi * 420 * t) + 0.2 * noise
    return (0.3 * (0.6 + 0.4 * torch.sin(2 * math.pi * 4 * t)) * voice)[None]


def run(frames, waveform, fps, models, backend, mode):
    return lip_sync(frames, waveform, SAMPLE_RATE, fps, LipSyncModels(*models), FaceAligner(backend),
                    JobOptions(sampler=SETTINGS, length_mode=mode))


def face_footprints(frames: torch.Tensor, backend) -> list[np.ndarray]:
    """Per frame, ``(H, W)`` bool: the frame pixels its aligned face covers (the clip aligned as the pipeline does)."""
    _, alignment = FaceAligner(backend).align(frames)
    h, w = alignment.source_size
    ones = np.ones((alignment.resolution,) * 2, np.float32)
    return [cv2.warpAffine(ones, a, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP) > 0 for a in alignment.aligned_affines()]


def check_frames_follow_map(result, frames, backend) -> None:
    """Each output frame is its source frame with only its face region changed, and changed."""
    footprints = face_footprints(frames, backend)
    for j, src in enumerate(result.frame_map):
        changed = (result.frames[j] != frames[src]).any(-1).numpy()
        assert changed.any(), f"output frame {j} (source {src}) was not lip-synced"
        assert not (changed & ~footprints[src]).any(), f"output frame {j} changed outside source frame {src}'s face"


def check_audio(result, waveform, fps) -> None:
    m = result.frames.shape[0]
    assert result.waveform.shape == (1, round(m * SAMPLE_RATE / fps))
    n = min(result.waveform.shape[-1], waveform.shape[-1])
    assert torch.equal(result.waveform[..., :n], waveform[..., :n])
    assert not result.waveform[..., n:].any(), "audio is padded with silence"


@pytest.mark.parametrize("mode, frame_map", [
    ("pingpong", [0, 1, 2, 2, 1, 0, 0, 1, 2]),
    ("loop", [0, 1, 2, 0, 1, 2, 0, 1, 2]),
])
def test_audio_three_times_longer_follows_the_audio(models, backend, mode, frame_map):
    frames = clip(3)
    waveform = speech(9 / 25)
    result = run(frames, waveform, 25.0, models, backend, mode)
    assert result.frames.shape == (9, 480, 640, 3)
    assert result.frame_map.tolist() == frame_map
    check_audio(result, waveform, 25.0)
    check_frames_follow_map(result, frames, backend)


def test_audio_shorter_than_the_video_is_trimmed(models, backend):
    frames = clip(5, seed=2)
    waveform = speech(2 / 25)
    result = run(frames, waveform, 25.0, models, backend, "trim")
    assert result.frames.shape[0] == 2 and result.frame_map.tolist() == [0, 1]
    check_audio(result, waveform, 25.0)
    check_frames_follow_map(result, frames, backend)


@pytest.mark.parametrize("fps, expected", [(24.0, 3), (30.0, 3), (60.0, 6)])
def test_frame_rates(models, backend, fps, expected):
    """0.1 s of audio on a 3-frame video: ceil(0.1 fps) output frames, audio cut or padded to them."""
    frames = clip(3, seed=3)
    waveform = speech(0.1)
    result = run(frames, waveform, fps, models, backend, "pingpong")
    assert result.frames.shape[0] == expected
    assert result.frame_map.tolist() == [0, 1, 2, 2, 1, 0][:expected]
    check_audio(result, waveform, fps)
    check_frames_follow_map(result, frames, backend)


def test_cutaway_in_the_middle_passes_through(models, backend):
    faces = (clip(4, seed=4).numpy() * 255).round().astype(np.uint8)
    frames = to_frames([faces[0], faces[1], cutaway(seed=6), faces[2], faces[3]])
    waveform = speech(5 / 25)
    result = run(frames, waveform, 25.0, models, backend, "trim")
    assert result.frames.shape == frames.shape
    assert torch.equal(result.frames[2], frames[2])
    face_rows = [0, 1, 3, 4]
    for j in face_rows:
        assert (result.frames[j] != frames[j]).any(), f"face frame {j} was not lip-synced"
