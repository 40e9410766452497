"""A viewer hears the sound at its source time in every output container we write.

AAC starts with 1024 samples of encoder priming (21.3 ms at 48 kHz) that MP4 and MOV hide with an
edit list. In Matroska FFmpeg writes a CodecDelay that FFmpeg 5.1 (Debian 12's ffmpeg, and the
players built on it) reads for Opus only, so an AAC track there plays the priming as sound and
everything after it late. A click at a known time is written through :class:`VideoWriter` the two
ways the pack writes sound: a waveform (lip-sync's new speech) and the source's track (enhance,
copied or re-encoded), then decoded by the ffmpeg command line (samples counted from the start of
the decoded track, as the media corpus measures) and by PyAV (first frame's time plus the samples
before the click); both must put the click where it is in the source, within 1 ms.
"""
from __future__ import annotations

import os
import subprocess

import av
import numpy as np
import pytest

from latentsync_core.media.video_io import VideoWriter, probe, read_windows
from player import ffmpeg_installed
from video_files import make_clip

RATE = 48000
CLICK = 0.5  # seconds: where the click starts in the source
TOLERANCE = 0.001
CONTAINERS = (".mp4", ".m4v", ".mov", ".mkv")


@pytest.fixture(autouse=True)
def _needs_ffmpeg():
    if not ffmpeg_installed():
        pytest.fail("These tests need the ffmpeg command line (Debian: apt-get install ffmpeg).")


def click(channels: int = 2, seconds: float = 1.0) -> np.ndarray:
    """``[C, T]`` float32 silence with a 1 ms click at :data:`CLICK`."""
    samples = np.zeros((channels, round(seconds * RATE)), np.float32)
    start = round(CLICK * RATE)
    samples[:, start:start + RATE // 1000] = 0.8
    return samples


def onset(samples: np.ndarray, rate: int) -> float:
    """Seconds from the first sample of ``samples`` ``[T]`` to the click."""
    loud = np.flatnonzero(np.abs(samples) > 0.4)
    assert len(loud), "the click is missing from the decoded sound"
    return loud[0] / rate


def cli_onset(path) -> tuple[float, int]:
    """The click's time and the sample count of the first sound track as the ffmpeg command line decodes it."""
    rate = int(subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                               "stream=sample_rate", "-of", "default=nw=1:nk=1", os.fspath(path)],
                              check=True, capture_output=True, text=True).stdout.strip())
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", os.fspath(path), "-map", "0:a:0", "-ac", "1",
                          "-f", "f32le", "-c:a", "pcm_f32le", "-"], check=True, capture_output=True).stdout
    samples = np.frombuffer(raw, "<f4")
    return onset(samples, rate), len(samples) * RATE // rate


def pyav_onset(path) -> float:
    """The click's time after the first video frame, from PyAV's timestamps."""
    with av.open(os.fspath(path)) as container:
        video = next(container.decode(video=0))
        video_start = float(video.pts * video.time_base)
    with av.open(os.fspath(path)) as container:
        frames = list(container.decode(audio=0))
    rate = frames[0].sample_rate
    mono = av.AudioResampler(format="flt", layout="mono", rate=rate)  # same rate: no delay
    samples = np.concatenate([f.to_ndarray().reshape(-1) for frame in frames + [None] for f in mono.resample(frame)])
    return float(frames[0].pts * frames[0].time_base) + onset(samples, rate) - video_start


def write(dst, info, audio=None) -> None:
    with VideoWriter(dst, info, crf=0 if str(dst).endswith(".mkv") else 18, audio=audio) as writer:
        for window in read_windows(info):
            writer.write(window.frames, window.pts)


def assert_on_time(path, length: int) -> None:
    at, count = cli_onset(path)
    assert abs(at - CLICK) <= TOLERANCE, f"{path.name}: ffmpeg hears the click {1000 * (at - CLICK):+.1f} ms late"
    at = pyav_onset(path)
    assert abs(at - CLICK) <= TOLERANCE, f"{path.name}: PyAV plays the click {1000 * (at - CLICK):+.1f} ms late"
    assert abs(count - length) <= 1024, f"{path.name}: {count} samples, source {length}"


@pytest.fixture(scope="module")
def silent_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("timing") / "silent.mp4"
    make_clip(path, n=25, audio=None)
    return probe(path)


@pytest.fixture(scope="module")
def clicking_video(tmp_path_factory):
    """An H.264 + AAC .mp4 made by the ffmpeg command line, the click at :data:`CLICK` (its edit list hides the priming)."""
    path = tmp_path_factory.mktemp("timing") / "clicking.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=1",
                    "-f", "lavfi", "-i", f"aevalsrc='0.8*between(n,{round(CLICK * RATE)},{round(CLICK * RATE) + 47})'"
                    f":s={RATE}:c=stereo:d=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-shortest", os.fspath(path)], check=True)
    assert abs(cli_onset(path)[0] - CLICK) <= TOLERANCE
    return probe(path)


@pytest.mark.parametrize("ext", CONTAINERS)
def test_new_speech_plays_at_its_time(silent_video, tmp_path, ext):
    speech = click()
    dst = tmp_path / f"lipsync{ext}"
    write(dst, silent_video, audio=(speech, RATE))
    assert_on_time(dst, speech.shape[1])


@pytest.mark.parametrize("ext", CONTAINERS)
def test_source_sound_plays_at_its_time(clicking_video, tmp_path, ext):
    dst = tmp_path / f"enhance{ext}"
    write(dst, clicking_video)
    assert_on_time(dst, cli_onset(clicking_video.path)[1])
    assert probe(dst).audio_codec == ("flac" if ext == ".mkv" else "aac")


def test_matroska_speech_is_kept_to_24_bits(silent_video, tmp_path):
    """FLAC in .mkv keeps the speech's layout, rate, length and samples (to 24 bits)."""
    t = np.arange(round(0.8 * 44100)) / 44100
    speech = np.stack([(0.1 + 0.05 * c) * np.sin(2 * np.pi * (250 + 150 * c) * t) for c in range(6)]).astype(np.float32)
    dst = tmp_path / "lipsync.mkv"
    write(dst, silent_video, audio=(speech, 44100))
    with av.open(os.fspath(dst)) as container:
        stream = container.streams.audio[0]
        layout, rate = stream.codec_context.layout.name, stream.codec_context.sample_rate
        packed = av.AudioResampler(format="flt", layout=layout, rate=rate)
        got = np.concatenate([f.to_ndarray().reshape(-1, 6).T for frame in list(container.decode(stream)) + [None]
                              for f in packed.resample(frame)], axis=1)
    assert (layout, rate, got.shape) == ("5.1", 44100, speech.shape)
    assert np.abs(got - speech).max() < 2.0 ** -22


@pytest.mark.parametrize("ext", CONTAINERS)
def test_high_rate_pcm_source_keeps_its_speed(tmp_path, ext):
    """A 96 kHz PCM track (a .mov from a recorder): copied where the container holds its rate, else
    re-encoded; either way it plays as long and at the same time as in the source (MP4's sound header
    holds the rate in 16 bits, so a copy there was read back at 48 kHz and played twice as long)."""
    src = tmp_path / "recorder.mov"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=1",
                    "-f", "lavfi", "-i", f"aevalsrc='0.8*between(n,{round(CLICK * 96000)},{round(CLICK * 96000) + 95})'"
                    ":s=96000:c=stereo:d=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "pcm_s16le",
                    "-shortest", os.fspath(src)], check=True)
    dst = tmp_path / f"enhance{ext}"
    write(dst, probe(src))
    assert_on_time(dst, cli_onset(src)[1])
