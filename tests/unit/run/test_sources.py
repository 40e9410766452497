"""FileSource over a time span of a video file (what a ComfyUI VIDEO's trim window names).

Each span is checked against the file read whole: the span's frames are exactly the file's
frames whose timestamps lie in it, numbered from 0, with timestamps from 0, in any window size
and from any start frame (later reads seek to a key frame found while opening the span).
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
import pytest

from latentsync_core.errors import BadInputError
from latentsync_core.job import FileSource, TimeSpan, open_source
from latentsync_core.media.video_io import probe, read_windows
from video_files import make_clip

VFR_MS = [0, 40, 80, 150, 190, 300, 333, 380, 420, 500, 530, 610, 700, 720, 760, 800, 905, 950, 990, 1100]


def whole(path) -> tuple[np.ndarray, np.ndarray]:
    """Frames and timestamps (seconds) of the file read from start to end."""
    info = probe(path)
    windows = list(read_windows(info, 7))
    return np.concatenate([w.frames for w in windows]), np.concatenate([w.pts for w in windows]) * info.time_base


def read(source: FileSource, size: int, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    windows = list(source.windows(size, start))
    assert [w.start for w in windows] == list(range(start, start + size * len(windows), size))
    assert all(len(w) == size for w in windows[:-1])
    return np.concatenate([w.frames for w in windows]), np.concatenate([w.pts for w in windows]) * source.info.time_base


def expected(path, start: float, duration: float) -> tuple[np.ndarray, np.ndarray, Fraction]:
    """The file's frames whose time ``t`` has ``start <= t < start + duration`` (decimal seconds, as written),
    their times from the first of them, and its time in the file."""
    frames, seconds = whole(path)
    start, duration = Fraction(str(start)), Fraction(str(duration))
    inside = (seconds >= start) & ((seconds < start + duration) if duration else True)
    first = seconds[inside][0]
    return frames[inside], seconds[inside] - first, first


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("spans")
    paths = {"cfr": str(base / "cfr.mp4"), "vfr": str(base / "vfr.mkv"), "rotated": str(base / "rotated.mp4")}
    make_clip(paths["cfr"], n=30, gop=6, size=(64, 48))
    make_clip(paths["vfr"], n=len(VFR_MS), fps=Fraction(20), time_base=Fraction(1, 1000), pts=VFR_MS, fmt="matroska",
              gop=5, audio=None)
    make_clip(paths["rotated"], n=12, size=(64, 48), rotation=90, audio=None)
    return paths


@pytest.mark.parametrize("clip, start, duration, count", [
    ("cfr", 0.4, 0.36, 9),    # frames 10..18 at 25 fps
    ("cfr", 0.41, 0.0, 19),   # from frame 11 (0.44 s) to the end
    ("cfr", 0.0, 0.2, 5),
    ("vfr", 0.3, 0.42, 8),    # 300 333 380 420 500 530 610 700 ms
    ("vfr", 0.2, 0.6, 10),    # 300 ... 760 ms: no frame at 0.2 s, the span starts at the next one
    ("rotated", 0.12, 0.2, 5),
])
def test_a_span_reads_exactly_its_frames_from_zero(clips, clip, start, duration, count):
    path = clips[clip]
    want, want_seconds, first = expected(path, start, duration)
    assert len(want) == count
    source = open_source(path, TimeSpan(start, duration))
    for size in (1, 4, 32):
        frames, seconds = read(source, size)
        assert np.array_equal(frames, want), f"window size {size} read other frames"
        assert np.array_equal(seconds, want_seconds) and seconds[0] == 0
    info, file_info = source.info, probe(path)
    assert (info.width, info.height, info.rotation) == (file_info.width, file_info.height, file_info.rotation)
    assert (info.start_pts - file_info.start_pts) * info.time_base == first, "start_pts is not at the span's first frame"
    assert not info.has_audio, "the file's whole audio track would be copied next to a part of its video"


def test_reads_from_a_later_frame_give_the_frames_from_there(clips):
    path = clips["cfr"]
    want, want_seconds, _ = expected(path, 0.4, 0.6)
    source = open_source(path, TimeSpan(0.4, 0.6))
    for start in (1, 5, 9, len(want) - 1):
        frames, seconds = read(source, 4, start)
        assert np.array_equal(frames, want[start:]) and np.array_equal(seconds, want_seconds[start:])
    assert list(source.windows(4, len(want))) == []


def test_a_negative_start_counts_back_from_the_end(clips):
    path = clips["cfr"]  # 30 frames, 1.2 s
    source = open_source(path, TimeSpan(-0.2, 0.0))
    frames, seconds = read(source, 4)
    want, want_seconds, _ = expected(path, 1.0, 0.0)
    assert len(want) == 5 and np.array_equal(frames, want) and np.array_equal(seconds, want_seconds)
    assert source.info.duration == pytest.approx(0.2)
    assert source.info.estimated_frames() == 5


def test_the_span_length_is_what_progress_counts(clips):
    source = open_source(clips["cfr"], TimeSpan(0.4, 0.36))
    assert source.info.duration == pytest.approx(0.36) and source.info.estimated_frames() == 9
    assert open_source(clips["cfr"], TimeSpan(1.0, 5.0)).info.estimated_frames() == 5, "a span past the end counts to the end"


@pytest.mark.parametrize("span", [TimeSpan(1.5, 0.0), TimeSpan(0.41, 0.02), TimeSpan(0.4, -0.2)])
def test_a_span_without_frames_is_refused_in_one_line(clips, span):
    with pytest.raises(BadInputError, match=r"No frame of '.*cfr\.mp4' \(1\.2 s long\) is in the span from .* Trim within the video\.") as caught:
        open_source(clips["cfr"], span)
    assert "\n" not in str(caught.value)


def test_a_span_from_the_end_of_a_video_of_unknown_length_is_refused(clips):
    info = dataclasses.replace(probe(clips["cfr"]), duration=None)
    with pytest.raises(BadInputError, match="does not say how long it is.*Trim it from its start instead"):
        FileSource(info, TimeSpan(-0.5, 0.0))


def test_without_a_span_the_file_is_read_whole(clips):
    path = clips["vfr"]
    source = open_source(path)
    frames, seconds = read(source, 4)
    want, want_seconds = whole(path)
    assert np.array_equal(frames, want) and np.array_equal(seconds, want_seconds)
    assert source.info == probe(path)
