"""Several speech tracks brought to one rate, channel count and length, and mixed into one sound track."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .audio_format import AAC_LAYOUTS, mono_weights, resample_to
from .audio_io import Audio, conform_audio

MIX_PEAK = 0.99
"""The mix is scaled down to this peak (-0.09 dBFS) when the plain sum of the tracks would go above it."""


def common_tracks(tracks: Sequence[Audio]) -> list[Audio]:
    """The tracks at one AAC rate and channel count, zero-padded at the end to the longest.

    Each track is first conformed (:func:`conform_audio`). The rate is the highest of theirs
    (the others are resampled with FFmpeg's swresample); the channels are the tracks' own when
    they all have the same count, a mono track repeated on every channel when the others share one
    count, and otherwise every track mixed down to mono.
    """
    conformed = [conform_audio(t.waveform, t.sample_rate) for t in tracks]
    rate = max(t.sample_rate for t in conformed)
    counts = {t.waveform.shape[0] for t in conformed}
    wider = counts - {1}
    out = []
    for track in conformed:
        samples = track.waveform
        if len(wider) > 1 and samples.shape[0] > 1:
            weights = torch.from_numpy(np.asarray(mono_weights(samples.shape[0]), np.float32))
            samples = (weights[:, None] * samples).sum(0, keepdim=True)
        elif len(wider) == 1 and samples.shape[0] == 1:
            samples = samples.expand(next(iter(wider)), -1)
        if track.sample_rate != rate:
            layout = AAC_LAYOUTS[samples.shape[0]]
            samples = torch.from_numpy(resample_to(samples.contiguous().numpy(), layout, track.sample_rate, rate))
        out.append(samples)
    length = max(s.shape[-1] for s in out)
    return [Audio(F.pad(s, (0, length - s.shape[-1])).contiguous(), rate) for s in out]


def mix_tracks(tracks: Sequence[torch.Tensor]) -> torch.Tensor:
    """The sum of ``[C, T]`` tracks of one shape, scaled to a peak of :data:`MIX_PEAK` only where it would clip.

    Speakers of a dialogue rarely talk at once, so the plain sum keeps each voice at its own level;
    only when the sum peaks above :data:`MIX_PEAK` is the whole mix scaled down by one factor (no
    limiter, no per-sample clipping).
    """
    total = torch.stack(list(tracks)).sum(0)
    peak = float(total.abs().max()) if total.numel() else 0.0
    return total * (MIX_PEAK / peak) if peak > MIX_PEAK else total
