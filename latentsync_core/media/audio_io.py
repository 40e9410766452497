"""Read the speech for a lip-sync from any container PyAV opens (wav, mp3, m4a, flac, a video's sound).

:func:`read_audio` decodes the first audio stream to a float waveform and, before any model
runs, brings it to what the output's AAC track carries (:func:`conform_audio`): the nearest AAC
sample rate and an AAC channel layout (see :mod:`latentsync_core.media.audio_format`); the
resampling to 16 kHz mono for Whisper happens later, in :mod:`latentsync_core.lipsync.audio`.
Every failure is a one-line :class:`~latentsync_core.errors.BadInputError` that names the file
and the fix.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import av
import numpy as np
import torch

from ..errors import BadInputError
from .audio_format import AAC_LAYOUTS, aac_mix, from_frame, layout_channels, nearest_aac_rate, resample_to

_FIX = "Give a wav, mp3, m4a or flac file, or a video with a sound track."


@dataclass(frozen=True)
class Audio:
    """A decoded audio track.

    Attributes:
        waveform: ``[C, T]`` float32 CPU tensor, about -1..1; from :func:`read_audio` and
            :func:`conform_audio`, ``C`` channels in the layout ``AAC_LAYOUTS[C]``.
        sample_rate: samples per second of ``waveform``; from those two, an AAC rate.
    """

    waveform: torch.Tensor
    sample_rate: int

    @property
    def duration(self) -> float:
        """Seconds of sound."""
        return self.waveform.shape[-1] / self.sample_rate

    @property
    def layout(self) -> str:
        """FFmpeg's name of the channel layout (``mono``, ``stereo``, ``5.1``, ...), taken from the channel count."""
        return AAC_LAYOUTS.get(self.waveform.shape[0], f"{self.waveform.shape[0]} channels")


def conform_audio(waveform: torch.Tensor | np.ndarray, sample_rate: int, layout: str | None = None) -> Audio:
    """The sound as the output's AAC track will carry it: an AAC layout, the nearest AAC rate.

    waveform: ``[T]`` or ``[C, T]`` float (torch or numpy) at ``sample_rate`` Hz; ``layout``:
    FFmpeg's name of its channel layout (None: ``AAC_LAYOUTS[C]``, as for a ComfyUI AUDIO).
    Channels are placed in an AAC layout or mixed down (:func:`~.audio_format.aac_mix`), then
    resampled with FFmpeg's swresample (:func:`~.audio_format.nearest_aac_rate`). A float32 CPU
    sound that already fits is returned as it is (no copy).
    """
    samples = torch.as_tensor(waveform).detach().float().cpu()
    if samples.dim() == 1:
        samples = samples[None]
    if samples.dim() != 2:
        raise BadInputError(f"Audio must be a waveform shaped [T] or [C, T], got {tuple(samples.shape)}; pass one clip.")
    if int(sample_rate) <= 0:
        raise BadInputError(f"Audio sample rate must be positive, got {sample_rate}.")
    mix = aac_mix(layout_channels(layout) if layout else samples.shape[0])
    rate = nearest_aac_rate(int(sample_rate))
    if mix.matrix is None and rate == int(sample_rate):
        return Audio(samples, rate)
    array = mix(samples.numpy())
    return Audio(torch.from_numpy(resample_to(array, mix.layout, int(sample_rate), rate)), rate)


def read_audio(path: str | os.PathLike) -> Audio:
    """Decode the first audio stream of ``path``.

    Raises:
        BadInputError: the file is missing or unreadable, has no audio stream, or its
            audio stream holds no samples.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise BadInputError(f"Audio '{path}' does not exist. Check the path.")
    if os.path.isdir(path):
        raise BadInputError(f"Audio '{path}' is a folder. {_FIX}")
    try:
        container = av.open(path, "r")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise BadInputError(f"Cannot read '{path}' as audio ({exc}). {_FIX}") from exc
    try:
        if not container.streams.audio:
            raise BadInputError(f"'{path}' has no audio stream. {_FIX}")
        stream = container.streams.audio[0]
        chunks, layout = _decode(container, stream, path)
    finally:
        container.close()
    if not chunks:
        raise BadInputError(f"The audio stream of '{path}' holds no samples. {_FIX}")
    waveform = torch.from_numpy(np.concatenate(chunks, axis=1))
    if waveform.shape[-1] == 0:
        raise BadInputError(f"The audio stream of '{path}' holds no samples. {_FIX}")
    return conform_audio(waveform, _sample_rate(stream, path), layout)


def _sample_rate(stream: av.audio.stream.AudioStream, path: str) -> int:
    rate = stream.codec_context.sample_rate or stream.rate
    if not rate:
        raise BadInputError(f"The audio stream of '{path}' declares no sample rate. {_FIX}")
    return int(rate)


def _decode(
    container: av.container.InputContainer, stream: av.audio.stream.AudioStream, path: str,
) -> tuple[list[np.ndarray], str | None]:
    """``(C, n)`` float32 blocks of the whole stream, channels kept, rate unchanged, and the layout's name."""
    rate = _sample_rate(stream, path)
    resampler = None
    layout = None
    chunks: list[np.ndarray] = []
    try:
        for frame in container.decode(stream):
            if resampler is None:
                layout = frame.layout.name if frame.layout.channels else "mono"
                # packed samples: PyAV's planar to_ndarray crashes on 8 or more channels (7.1)
                resampler = av.AudioResampler(format="flt", layout=layout, rate=rate)
            chunks.extend(from_frame(out) for out in resampler.resample(frame))
        if resampler is not None:
            chunks.extend(from_frame(out) for out in resampler.resample(None))
    except av.FFmpegError as exc:
        decoded = sum(c.shape[1] for c in chunks)
        raise BadInputError(f"Cannot decode the audio of '{path}' after {decoded} samples ({exc}). The file may be damaged.") from exc
    return [c for c in chunks if c.shape[1]], layout
