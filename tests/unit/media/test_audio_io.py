"""Decoding speech from any container PyAV reads (latentsync_core.media.audio_io).

The sound is written here with PyAV: a 0.6 s two-tone chirp, in wav, flac, m4a (AAC), mp3
and as the sound track of an mp4 video (tests/support/video_files.make_clip).
"""
from __future__ import annotations

import wave

import av
import numpy as np
import pytest

from latentsync_core.errors import BadInputError
from audio_files import write_audio
from latentsync_core.media.audio_io import read_audio
from video_files import make_clip


def tone(rate: int, seconds: float = 0.6, channels: int = 1) -> np.ndarray:
    """``(channels, T)`` float32: 300 Hz in the first channel, 500 Hz in the second, at 0.4 amplitude."""
    t = np.arange(round(rate * seconds)) / rate
    return np.stack([0.4 * np.sin(2 * np.pi * (300 + 200 * c) * t) for c in range(channels)]).astype(np.float32)


def test_wav_is_read_exactly(tmp_path):
    sound = tone(22050, channels=2)
    path = tmp_path / "parole é.wav"
    write_audio(path, sound, 22050, "pcm_s16le")
    audio = read_audio(path)
    assert audio.sample_rate == 22050 and audio.waveform.shape == sound.shape
    assert np.abs(audio.waveform.numpy() - sound).max() <= 1 / 32767 + 1e-6


@pytest.mark.parametrize("codec, suffix, fmt", [("flac", ".flac", None), ("aac", ".m4a", "ipod"), ("libmp3lame", ".mp3", None)])
def test_compressed_containers_decode_to_the_same_sound(tmp_path, codec, suffix, fmt):
    try:
        av.codec.Codec(codec, "w")
    except av.FFmpegError:
        pytest.skip(f"PyAV's FFmpeg has no {codec} encoder")
    sound = tone(44100)
    path = tmp_path / f"speech{suffix}"
    write_audio(path, sound, 44100, codec, fmt)
    audio = read_audio(path)
    assert audio.sample_rate == 44100 and audio.waveform.shape[0] == 1
    # Encoder delay and frame padding add at most a few frames of 1152 samples.
    assert sound.shape[1] <= audio.waveform.shape[1] <= sound.shape[1] + 4 * 1152
    got = audio.waveform[0].numpy()
    lag = int(np.argmax(np.correlate(got[:6000], sound[0, :2000], mode="valid")))
    segment = got[lag:lag + sound.shape[1]]
    assert np.corrcoef(segment, sound[0, :segment.size])[0, 1] > 0.98


def test_sound_track_of_a_video(tmp_path):
    path = tmp_path / "clip.mp4"
    make_clip(path, n=15)
    audio = read_audio(path)
    assert audio.waveform.shape[0] == 1 and audio.sample_rate > 0
    assert 0.5 <= audio.duration <= 0.7  # 15 frames at 25 fps, plus AAC padding
    assert audio.waveform.abs().max() > 0.1


def test_errors_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        read_audio(tmp_path / "nope.wav")
    text = tmp_path / "speech.wav"
    text.write_text("not a sound")
    with pytest.raises(BadInputError, match="Cannot read .*speech.wav.* as audio.*Give a wav"):
        read_audio(text)
    silent = tmp_path / "silent.mp4"
    make_clip(silent, n=3, audio=None)
    with pytest.raises(BadInputError, match="silent.mp4' has no audio stream. Give a wav"):
        read_audio(silent)
    empty = tmp_path / "empty.wav"
    with wave.open(str(empty), "wb") as w:  # a valid header, no samples
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
    with pytest.raises(BadInputError, match="empty.wav' holds no samples"):
        read_audio(empty)
