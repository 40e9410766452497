"""Sound files for tests: writing a waveform in any codec PyAV has, reading the committed speech."""
from __future__ import annotations

import os
import wave

import av
import numpy as np
import torch

from repo_paths import DATA


def write_audio(path, sound: np.ndarray, rate: int, codec: str, fmt: str | None = None) -> None:
    layout = "mono" if sound.shape[0] == 1 else "stereo"
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        sample_fmt = stream.codec_context.codec.audio_formats[0].name
        resampler = av.AudioResampler(format=sample_fmt, layout=layout, rate=rate)
        size = stream.codec_context.frame_size or 1024
        for start in range(0, sound.shape[1], size):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(sound[:, start:start + size]), format="fltp", layout=layout)
            frame.sample_rate = rate
            frame.pts = start
            for out in resampler.resample(frame):
                container.mux(stream.encode(out))
        container.mux(stream.encode(None))


def read_wav(name: str) -> torch.Tensor:
    """16 kHz mono PCM16 wav -> [1, T] float32, scaled by 1/32768 like the reference's ffmpeg path."""
    with wave.open(os.path.join(DATA, name)) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
        pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    return torch.from_numpy(pcm.astype(np.float32) / 32768.0)[None]
