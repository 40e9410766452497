"""Speech for SyncNet: 16 kHz mono 16-bit PCM from a file or an in-memory waveform."""
from __future__ import annotations

import av
import numpy as np
import pytest

from latentsync_core.errors import BadInputError
from latentsync_core.metrics.pcm import read_pcm16k, waveform_to_pcm16k


def write_wav(path, samples: np.ndarray, rate: int) -> None:
    """``(C, T)`` int16 samples as a PCM wav file."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="mono" if len(samples) == 1 else "stereo")
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples.T.reshape(1, -1)), format="s16", layout=stream.layout.name)
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_16k_mono_file_reads_back_unchanged(tmp_path):
    samples = np.random.default_rng(0).integers(-20000, 20000, (1, 8000)).astype(np.int16)
    write_wav(tmp_path / "a.wav", samples, 16000)
    np.testing.assert_array_equal(read_pcm16k(tmp_path / "a.wav"), samples[0])


def test_stereo_44k_file_and_waveform_agree(tmp_path):
    t = np.arange(44100) / 44100
    tone = 0.4 * np.sin(2 * np.pi * 300 * t)
    stereo = np.stack([tone, tone])
    write_wav(tmp_path / "b.wav", np.round(stereo * 32767).astype(np.int16), 44100)
    from_file = read_pcm16k(tmp_path / "b.wav")
    from_waveform = waveform_to_pcm16k(stereo, 44100)
    assert abs(len(from_file) - 16000) <= 32 and abs(len(from_waveform) - 16000) <= 32
    n = min(len(from_file), len(from_waveform))
    assert np.abs(from_file[:n].astype(int) - from_waveform[:n]).max() <= 2
    assert 0.39 * 32768 < np.abs(from_waveform[1000:-1000]).max() < 0.41 * 32768  # L+R averaged, not summed


def test_file_without_audio_is_bad_input(tmp_path):
    from video_files import make_clip

    make_clip(tmp_path / "v.mp4", audio=None)
    with pytest.raises(BadInputError, match="no audio track"):
        read_pcm16k(tmp_path / "v.mp4")
