"""Landmark cache: replays a run's faces, misses on any change, survives bad files."""
import os

import numpy as np
import pytest

from latentsync_core.face.aligner import FaceAligner
from latentsync_core.face.landmark_cache import CACHE_ENV, LandmarkCache, default_cache_dir, open_cache
from latentsync_core.face.landmarks import get_backend
from clips import astronaut, cutaway, jitter_affines, render, to_frames

BASE = np.array([[1.0, 0.0, 64.0], [0.0, 1.0, -16.0]])


def counting(backend, monkeypatch):
    """Count the frames ``backend`` (the real one: same settings, same cache key) detects or follows in."""
    seen = []
    for method in ("detect", "follow"):
        real = getattr(type(backend), method)

        def spy(*args, real=real):
            seen.append(args[0].shape)
            return real(backend, *args)

        monkeypatch.setattr(backend, method, spy)
    return seen


@pytest.fixture(scope="module")
def mediapipe():
    return get_backend("mediapipe")


@pytest.fixture(scope="module")
def clip():
    face = (render(astronaut(), jitter_affines(5, seed=7, base=BASE)).numpy() * 255).astype(np.uint8)
    return to_frames([face[0], face[1], cutaway(seed=4), face[2], face[3], face[4]])


def _run(backend, cache, frames, windows=(None,), **options):
    aligner = FaceAligner(backend, cache=cache, **options)
    bounds = [0, *[w for w in windows if w is not None], len(frames)]
    return [aligner.align(frames[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def _assert_same(first, second):
    for (aligned_a, a), (aligned_b, b) in zip(first, second):
        np.testing.assert_array_equal(a.affines, b.affines)
        np.testing.assert_array_equal(a.has_face, b.has_face)
        np.testing.assert_array_equal(a.interpolated, b.interpolated)
        np.testing.assert_array_equal(a.landmarks, b.landmarks)
        np.testing.assert_array_equal(a.mouth, b.mouth)
        assert aligned_a.equal(aligned_b)


def test_second_run_replays_without_detecting(mediapipe, clip, tmp_path, monkeypatch):
    cache = LandmarkCache(str(tmp_path))
    seen = counting(mediapipe, monkeypatch)
    first = _run(mediapipe, cache, clip, windows=(2, 4))
    assert len(seen) == len(clip)
    assert [a.has_face.tolist() for _, a in first] == [[True, True], [False, True], [True, True]]
    seen.clear()
    second = _run(mediapipe, LandmarkCache(str(tmp_path)), clip, windows=(2, 4))
    assert seen == []
    _assert_same(first, second)
    # smoothing only changes the fit: still a hit, and the fit follows the new setting
    smoother = _run(mediapipe, cache, clip, windows=(2, 4), smoothing=0.6)
    assert seen == []
    # the same frames without a cache give the same alignment
    _assert_same(first, _run(mediapipe, None, clip, windows=(2, 4)))
    assert len(seen) == len(clip)
    assert not np.array_equal(smoother[0][1].affines, first[0][1].affines)
    assert [p for p in os.listdir(tmp_path) if not p.endswith(".npz")] == []


def test_editing_one_frame_or_a_setting_misses(mediapipe, clip, tmp_path, monkeypatch):
    cache = LandmarkCache(str(tmp_path))
    _run(mediapipe, cache, clip)
    seen = counting(mediapipe, monkeypatch)
    edited = clip.clone()
    edited[4, 100, 100, 0] += 1 / 255
    for frames, options in [(edited, {}), (clip, {"max_gap": 2}), (clip, {"selection": "follow_first"}), (clip, {"resolution": 512})]:
        seen.clear()
        _run(mediapipe, cache, frames, **options)
        assert len(seen) == len(clip), options
    other = get_backend("mediapipe", min_detection_confidence=0.6)
    seen = counting(other, monkeypatch)
    _run(other, cache, clip)
    assert len(seen) == len(clip)
    # the original run is still a hit
    seen = counting(mediapipe, monkeypatch)
    _run(mediapipe, cache, clip)
    assert seen == []


@pytest.mark.parametrize("damage", [b"", b"not a zip file", None])
def test_bad_entries_are_misses_and_rewritten(mediapipe, clip, tmp_path, monkeypatch, damage):
    cache = LandmarkCache(str(tmp_path))
    reference = _run(mediapipe, cache, clip)
    (entry,) = tmp_path.iterdir()
    data = entry.read_bytes()
    entry.write_bytes(data[: len(data) // 2] if damage is None else damage)
    seen = counting(mediapipe, monkeypatch)
    again = _run(mediapipe, cache, clip)
    assert len(seen) == len(clip)
    _assert_same(reference, again)
    assert entry.read_bytes() == data


def test_entries_keep_points_float32_and_a_replay_equals_a_detection(mediapipe, clip, tmp_path):
    first = _run(mediapipe, LandmarkCache(str(tmp_path)), clip)
    (entry,) = tmp_path.iterdir()
    with np.load(entry) as data:
        assert data["points"].dtype == np.float32 and data["anchors"].dtype == np.float64
        assert data["points"].shape[1] == first[0][1].landmarks.shape[1] > 100
    assert first[0][1].landmarks.dtype == np.float32
    _assert_same(first, _run(mediapipe, LandmarkCache(str(tmp_path)), clip))
    # 32 frames of a 478-point mesh took 255 KiB as float64 npz
    assert entry.stat().st_size < 4200 * len(clip)


def test_cap_evicts_least_recently_used_entries(mediapipe, clip, tmp_path):
    folder = tmp_path / "cache"
    _run(mediapipe, LandmarkCache(str(folder)), clip[:2])
    (one,) = folder.iterdir()
    size = one.stat().st_size
    _run(mediapipe, LandmarkCache(str(folder)), clip[3:5])
    two = next(p for p in folder.iterdir() if p != one)
    os.utime(one, (1_000, 1_000))
    os.utime(two, (2_000, 2_000))
    # a hit on the older entry makes it the most recently used
    assert LandmarkCache(str(folder)).load(one.stem, 2) is not None
    capped = LandmarkCache(str(folder), max_bytes=int(2.5 * size))
    _run(mediapipe, capped, clip[4:6])
    left = set(folder.iterdir())
    assert one in left and two not in left and len(left) == 2, left
    assert sum(p.stat().st_size for p in left) <= 2.5 * size
    # an entry over the cap by itself is still written (the next run can use it); older ones go
    tiny = LandmarkCache(str(folder), max_bytes=1)
    _run(mediapipe, tiny, clip[1:3])
    assert len(list(folder.iterdir())) == 1


def test_cache_folder_defaults_and_off(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert default_cache_dir() == str(tmp_path / "mine")
    assert open_cache(None).folder == str(tmp_path / "mine")
    assert open_cache("off") is None
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir().startswith(str(tmp_path)) and default_cache_dir().endswith(os.path.join("comfyui-latentsync", "landmarks"))


def test_command_line_second_run_skips_detection(tmp_path, monkeypatch, capsys):
    from fractions import Fraction

    from latentsync_core import cli
    from latentsync_core.face.landmarks.mediapipe_backend import MediaPipeBackend
    from clips import face_frames
    from video_files import make_clip

    clip = tmp_path / "clip.mp4"
    make_clip(clip, frames=face_frames(), fps=Fraction(25), time_base=Fraction(1, 25), pts=list(range(5)))
    seen = []
    for method in ("detect", "follow"):
        real = getattr(MediaPipeBackend, method)
        monkeypatch.setattr(MediaPipeBackend, method, lambda self, *args, real=real: seen.append(1) or real(self, *args))
    for run in range(2):
        args = ["enhance", "--input", str(clip), "--output", str(tmp_path / f"out{run}.mp4"), "--superres", "none", "--window", "2"]
        assert cli.main([*args, "--landmark_cache", str(tmp_path / "cache"), "--quiet"]) == cli.EXIT_OK, capsys.readouterr().err
        assert len(seen) == 5
    assert len(os.listdir(tmp_path / "cache")) == 3
    assert cli.main(["enhance", "--input", str(clip), "--output", str(tmp_path / "off.mp4"), "--superres", "none", "--landmark_cache", "off", "--quiet"]) == 0
    assert len(seen) == 10
