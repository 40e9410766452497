"""Read the speech for a lip-sync from any container PyAV opens (wav, mp3, m4a, flac, a video's sound).

:func:`read_audio` decodes the first audio stream to a float waveform at the stream's
own sample rate (resampling to 16 kHz for Whisper happens later, in
:mod:`latentsync_core.lipsync.audio`). Every failure is a one-line
:class:`~latentsync_core.errors.BadInputError` that names the file and the fix.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import av
import numpy as np
import torch

from ..errors import BadInputError

_FIX = "Give a wav, mp3, m4a or flac file, or a video with a sound track."


@dataclass(frozen=True)
class Audio:
    """A decoded audio track.

    Attributes:
        waveform: ``[C, T]`` float32 CPU tensor, about -1..1.
        sample_rate: samples per second of ``waveform``.
    """

    waveform: torch.Tensor
    sample_rate: int

    @property
    def duration(self) -> float:
        """Seconds of sound."""
        return self.waveform.shape[-1] / self.sample_rate


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
        chunks = _decode(container, stream, path)
    finally:
        container.close()
    if not chunks:
        raise BadInputError(f"The audio stream of '{path}' holds no samples. {_FIX}")
    waveform = torch.from_numpy(np.concatenate(chunks, axis=1))
    if waveform.shape[-1] == 0:
        raise BadInputError(f"The audio stream of '{path}' holds no samples. {_FIX}")
    return Audio(waveform, _sample_rate(stream, path))


def _sample_rate(stream: av.audio.stream.AudioStream, path: str) -> int:
    rate = stream.codec_context.sample_rate or stream.rate
    if not rate:
        raise BadInputError(f"The audio stream of '{path}' declares no sample rate. {_FIX}")
    return int(rate)


def _planar(frame: av.AudioFrame) -> np.ndarray:
    """A packed float frame as ``(C, n)`` float32."""
    return frame.to_ndarray().reshape(-1, frame.layout.nb_channels).T.astype(np.float32)


def _decode(container: av.container.InputContainer, stream: av.audio.stream.AudioStream, path: str) -> list[np.ndarray]:
    """``(C, n)`` float32 blocks of the whole stream, channels kept, rate unchanged."""
    rate = _sample_rate(stream, path)
    resampler = None
    chunks: list[np.ndarray] = []
    try:
        for frame in container.decode(stream):
            if resampler is None:
                layout = frame.layout.name if frame.layout.channels else "mono"
                # packed samples: PyAV's planar to_ndarray crashes on 8 or more channels (7.1)
                resampler = av.AudioResampler(format="flt", layout=layout, rate=rate)
            chunks.extend(_planar(out) for out in resampler.resample(frame))
        if resampler is not None:
            chunks.extend(_planar(out) for out in resampler.resample(None))
    except av.FFmpegError as exc:
        decoded = sum(c.shape[1] for c in chunks)
        raise BadInputError(f"Cannot decode the audio of '{path}' after {decoded} samples ({exc}). The file may be damaged.") from exc
    return [c for c in chunks if c.shape[1]]
