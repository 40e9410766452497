"""The offset search and LSE-C on a video whose audio is shifted: an honest construction.

Random SyncNet weights know nothing about speech, so a score from them cannot show that the
search finds a shift. Instead a tiny network with SyncNet's interface (``embed_lips`` on
``[B, 3, 5, 224, 224]`` BGR crops, ``embed_audio`` on ``[B, 1, 13, 20]`` MFCC windows) is
trained here, for a few seconds, on synthetic data where the mouth is a dark ellipse whose
height follows a per-frame "loudness" and the audio is white noise with that loudness. It
learns that loudness <-> mouth opening, as SyncNet learned it from speech. The evaluation
code under test (crop batching, MFCC windows, the +-15 frame search, LSE-C) is the real one:
only the network is small. Nothing is hard-coded: the scores come from the trained network.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from latentsync_core.metrics.mfcc import mfcc
from latentsync_core.metrics.sync_eval import (
    MFCC_PER_FRAME, MFCC_WINDOW, SAMPLES_PER_FRAME, WINDOW, LipEmbedder, embed_audio, offset_scores, window_count,
)


class TinySyncNet(nn.Module):
    """SyncNet's two entry points on a network small enough to train in seconds."""

    def __init__(self, size: int = 16) -> None:
        super().__init__()
        self.lips = nn.Sequential(nn.Linear(WINDOW * 14 * 14, 64), nn.ReLU(), nn.Linear(64, size))
        self.audio = nn.Sequential(nn.Linear(13 * MFCC_WINDOW, 64), nn.ReLU(), nn.Linear(64, size))

    @staticmethod
    def pool(crops: torch.Tensor) -> torch.Tensor:
        """``[..., 3, T, 224, 224]`` 0..255 -> ``[..., T, 14, 14]`` gray 0..1 (fixed, not trained)."""
        return F.avg_pool2d(crops.mean(dim=-4) / 255.0, 16)

    def embed_lips(self, crops: torch.Tensor) -> torch.Tensor:
        return self.lips(self.pool(crops).flatten(1))

    def embed_audio(self, mfcc_windows: torch.Tensor) -> torch.Tensor:
        return self.audio(mfcc_windows.flatten(1) / 10.0)


def render_mouths(opening: np.ndarray) -> np.ndarray:
    """``(N, 224, 224, 3)`` uint8 RGB face crops: skin, and a dark mouth ellipse opening 0..1."""
    out = np.full((len(opening), 224, 224, 3), (190, 150, 130), dtype=np.uint8)
    for frame, o in zip(out, opening):
        cv2.ellipse(frame, (112, 150), (40, int(3 + 45 * o)), 0, 0, 360, (60, 20, 30), -1)
    return out


def speech(opening: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """int16 16 kHz noise whose loudness in each 40 ms frame follows ``opening``."""
    gain = np.repeat(150 + 6000 * opening, SAMPLES_PER_FRAME)
    return (rng.standard_normal(gain.size) * gain).clip(-32768, 32767).astype(np.int16)


def train(seconds_of_data: int = 10, steps: int = 250) -> TinySyncNet:
    """Contrastive training (InfoNCE on negative distances) of matching lip/audio windows."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n = seconds_of_data * 25
    opening = rng.uniform(0, 1, n)
    crops = torch.from_numpy(render_mouths(opening)[..., ::-1].copy()).float().permute(3, 0, 1, 2)  # [3, N, 224, 224]
    pooled = TinySyncNet.pool(crops)  # [N, 14, 14]: the fixed first step, done once
    features = torch.from_numpy(mfcc(speech(opening, rng))).float()
    windows = window_count(n, n * SAMPLES_PER_FRAME)
    lips = torch.stack([pooled[i:i + WINDOW].flatten() for i in range(windows)])
    sounds = torch.stack([features[:, i * MFCC_PER_FRAME:i * MFCC_PER_FRAME + MFCC_WINDOW] for i in range(windows)])[:, None]
    net = TinySyncNet()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(steps):
        idx = torch.randint(0, windows, (48,))
        logits = -torch.cdist(net.lips(lips[idx]), net.embed_audio(sounds[idx]))
        target = torch.arange(len(idx))
        loss = F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@pytest.fixture(scope="module")
def net() -> TinySyncNet:
    torch.set_num_threads(1)
    return train()


def score(net: TinySyncNet, opening: np.ndarray, audio: np.ndarray):
    crops = render_mouths(opening)
    n = window_count(len(crops), len(audio))
    lips = LipEmbedder(net, n, batch_size=20)
    lips.add(crops)
    return offset_scores(lips.finish(), embed_audio(net, audio, n))


def delayed(audio: np.ndarray, frames: int, rng: np.random.Generator) -> np.ndarray:
    """The audio ``frames`` video frames later (negative: earlier), quiet noise filling the gap."""
    shift = frames * SAMPLES_PER_FRAME
    filler = (rng.standard_normal(abs(shift)) * 150).astype(np.int16)
    return np.concatenate([filler, audio[:len(audio) - shift]]) if shift >= 0 else np.concatenate([audio[-shift:], filler])


def test_shifted_audio_gives_its_offset_and_unrelated_audio_lowers_lse_c(net):
    rng = np.random.default_rng(1)
    opening = rng.uniform(0, 1, 75)  # 3 s at 25 fps
    audio = speech(opening, rng)
    in_sync = score(net, opening, audio)
    assert in_sync.offset == 0
    # audio k frames late: lip window i matches audio window i + k, reported as offset -k
    for k in (3, -5, 9):
        shifted = score(net, opening, delayed(audio, k, rng))
        assert shifted.offset == -k, (k, shifted.offset)
        assert shifted.confidence > 0.5 * in_sync.confidence
    unrelated = score(net, opening, speech(rng.uniform(0, 1, 75), rng))
    beyond_search = score(net, opening, delayed(audio, 25, rng))
    assert unrelated.confidence < 0.5 * in_sync.confidence
    assert beyond_search.confidence < 0.5 * in_sync.confidence
    assert in_sync.distance < unrelated.distance
