"""MFCCs exactly as the standard SyncNet evaluation computes them.

The evaluation calls ``python_speech_features.mfcc(audio, 16000)`` with its
defaults on 16-bit PCM samples (not rescaled): pre-emphasis 0.97, 25 ms
rectangular frames every 10 ms (the last one zero-padded), a 512-point power
spectrum, 26 triangular mel filters on floored FFT bins, log, orthonormal
DCT-II keeping 13 coefficients, a sine lifter of 22, and the first
coefficient replaced by the log frame energy. This is the same computation
in numpy (no scipy); ``tests/unit/metrics/test_metrics_syncnet.py`` checks it against the
package's output stored in a fixture.
"""
from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
MFCC_STEPS_PER_SECOND = 100
N_MFCC = 13
_WIN, _STEP = 0.025, 0.01
_N_FILTERS, _N_FFT, _PREEMPH, _LIFTER = 26, 512, 0.97, 22
_EPS = np.finfo(float).eps


def _half_up(x: float) -> int:
    return int(Decimal(x).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def _frames(signal: np.ndarray, length: int, step: int) -> np.ndarray:
    """``(F, length)`` frames every ``step`` samples; the tail is zero-padded to a whole frame."""
    n = len(signal)
    count = 1 if n <= length else 1 + math.ceil((n - length) / step)
    padded = np.zeros((count - 1) * step + length)
    padded[:n] = signal
    return np.lib.stride_tricks.sliding_window_view(padded, length)[::step][:count]


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@lru_cache(maxsize=4)
def mel_filters(sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``(26, 257)`` triangular filters on FFT bins ``floor((nfft + 1) * f / sr)``; peak value 1."""
    mels = np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), _N_FILTERS + 2)
    edges = np.floor((_N_FFT + 1) * _mel_to_hz(mels) / sample_rate)
    bins = np.arange(_N_FFT // 2 + 1, dtype=np.float64)
    out = np.zeros((_N_FILTERS, bins.size))
    for j, (lo, mid, hi) in enumerate(zip(edges[:-2], edges[1:-1], edges[2:])):
        rising = (bins >= lo) & (bins < mid)
        falling = (bins >= mid) & (bins < hi)
        out[j, rising] = (bins[rising] - lo) / (mid - lo) if mid > lo else 0.0
        out[j, falling] = (hi - bins[falling]) / (hi - mid) if hi > mid else 0.0
    return out


@lru_cache(maxsize=1)
def _dct_rows() -> np.ndarray:
    """First 13 rows of the orthonormal DCT-II matrix of size 26."""
    n = np.arange(_N_FILTERS)
    k = np.arange(N_MFCC)[:, None]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * _N_FILTERS)) * math.sqrt(2.0 / _N_FILTERS)
    basis[0] /= math.sqrt(2.0)
    return basis


def mfcc(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``(13, F)`` float64 MFCCs of ``samples`` (1-D, 16-bit PCM values), one column per 10 ms.

    ``F = 1 + ceil((len - 400) / 160)`` at 16 kHz (at least 1).
    """
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise ValueError("mfcc: empty audio")
    emphasised = np.append(x[0], x[1:] - _PREEMPH * x[:-1])
    frames = _frames(emphasised, _half_up(_WIN * sample_rate), _half_up(_STEP * sample_rate))
    power = np.square(np.abs(np.fft.rfft(frames, _N_FFT))) / _N_FFT
    energy = power.sum(axis=1)
    energy = np.where(energy == 0, _EPS, energy)
    bands = power @ mel_filters(sample_rate).T
    bands = np.where(bands == 0, _EPS, bands)
    cepstra = np.log(bands) @ _dct_rows().T
    cepstra *= 1.0 + (_LIFTER / 2.0) * np.sin(np.pi * np.arange(N_MFCC) / _LIFTER)
    cepstra[:, 0] = np.log(energy)
    return cepstra.T
