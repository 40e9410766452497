"""Speech as the SyncNet evaluation reads it: mono 16-bit PCM at 16 kHz.

The reference converts with ``ffmpeg -ac 1 -acodec pcm_s16le -ar 16000``; the
same libswresample conversion runs here through PyAV, from a file or from an
in-memory waveform.
"""
from __future__ import annotations

import os

import av
import numpy as np

from ..errors import BadInputError
from .mfcc import SAMPLE_RATE


def _resampler() -> av.AudioResampler:
    return av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)


def _drain(resampler: av.AudioResampler, frames) -> np.ndarray:
    chunks = []
    for frame in frames:
        for out in resampler.resample(frame):
            chunks.append(out.to_ndarray().reshape(-1))
    for out in resampler.resample(None):
        chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, np.int16)


def read_pcm16k(path: str | os.PathLike) -> np.ndarray:
    """``(T,)`` int16 mono 16 kHz samples of the first audio track of ``path``.

    Raises:
        BadInputError: the file cannot be read or has no audio track.
    """
    path = os.fspath(path)
    try:
        container = av.open(path)
    except (av.FFmpegError, OSError) as exc:
        raise BadInputError(f"cannot read audio from '{path}': {exc}") from exc
    with container:
        if not container.streams.audio:
            raise BadInputError(f"'{path}' has no audio track; give the speech with --audio.")
        stream = container.streams.audio[0]
        return _drain(_resampler(), container.decode(stream))


def waveform_to_pcm16k(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(T',)`` int16 mono 16 kHz samples of a ``(C, T)`` (or ``(T,)``) float waveform in -1..1."""
    x = np.asarray(waveform, dtype=np.float32)
    x = x.reshape(1, -1) if x.ndim == 1 else x.reshape(-1, x.shape[-1])
    if x.shape[0] > 2:
        x = x.mean(axis=0, keepdims=True)
    if x.shape[1] == 0:
        return np.zeros(0, np.int16)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x), format="fltp", layout="mono" if x.shape[0] == 1 else "stereo")
    frame.sample_rate = int(sample_rate)
    return _drain(_resampler(), [frame])
