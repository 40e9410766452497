"""MediaPipe Face Mesh backend on tests/data/astronaut.png (one face, about 90 px wide).

Geometry checks use the image itself: a rotated/scaled copy (``cv2.warpAffine`` with a
known matrix) must give the original anchors mapped through that matrix.
"""
from __future__ import annotations

import os
import sys

import cv2
import numpy as np
import pytest

from latentsync_core.errors import BadInputError, MissingDependencyError  # noqa: E402
from latentsync_core.face.landmarks import BACKENDS, FaceFilter, get_backend  # noqa: E402
from latentsync_core.face.landmarks.mediapipe_backend import MEDIAPIPE_478, MediaPipeBackend  # noqa: E402
from clips import closeup_1080p  # noqa: E402
from repo_paths import DATA  # noqa: E402

ASTRONAUT = os.path.join(DATA, "astronaut.png")


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    bgr = cv2.imread(ASTRONAUT)
    assert bgr is not None, f"cannot read {ASTRONAUT}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def backend() -> MediaPipeBackend:
    mp_backend = get_backend("mediapipe")
    yield mp_backend
    mp_backend.reset()


@pytest.fixture(scope="module")
def face(backend, image):
    faces = backend.detect(image)
    assert len(faces) == 1, f"expected one face in the astronaut image, got {len(faces)}"
    return faces[0]


def test_one_face_with_consistent_geometry(face):
    left, right, nose = face.anchors
    x1, y1, x2, y2 = face.bbox
    assert face.points.shape == (478, 2) and face.anchors.shape == (3, 2) and face.mouth.shape == (20, 2)
    for name, (x, y) in zip(("left brow", "right brow", "nose"), face.anchors):
        assert x1 <= x <= x2 and y1 <= y <= y2, f"{name} anchor ({x:.1f}, {y:.1f}) outside bbox {face.bbox}"
    assert left[0] < right[0], f"left brow x {left[0]:.1f} not left of right brow x {right[0]:.1f}"
    assert nose[1] > max(left[1], right[1]), f"nose y {nose[1]:.1f} not below brows"
    assert face.mouth[:, 1].mean() > nose[1], "mouth not below nose"
    assert left[0] < nose[0] < right[0], "nose not between the brows"
    assert 0.0 <= face.score <= 1.0


def test_mouth_ring_starts_at_image_left_corner_and_runs_clockwise(face):
    mouth = face.mouth
    assert np.argmin(mouth[:, 0]) == 0
    x, y = mouth[:, 0], mouth[:, 1]
    area = 0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)
    assert area > 0, "outer lip ring is not clockwise on screen"


@pytest.mark.parametrize("angle,scale", [(15.0, 1.0), (-20.0, 1.3), (10.0, 0.8)])
def test_anchors_follow_a_rotated_scaled_copy(backend, image, face, angle, scale):
    matrix = cv2.getRotationMatrix2D((256.0, 256.0), angle, scale)
    matrix[:, 2] += (100.0, 60.0)
    warped = cv2.warpAffine(image, matrix, (720, 640), flags=cv2.INTER_LINEAR)
    faces = backend.detect(warped)
    assert len(faces) == 1, f"rotation {angle} scale {scale}: {len(faces)} faces"
    expected = face.anchors @ matrix[:, :2].T + matrix[:, 2]
    error = np.linalg.norm(faces[0].anchors - expected, axis=1)
    brow_span = np.linalg.norm(expected[1] - expected[0])
    assert error.max() < 0.05 * brow_span, (
        f"rotation {angle} scale {scale}: anchor errors {np.round(error, 2)} px "
        f"(limit {0.05 * brow_span:.2f} px = 5% of the {brow_span:.1f} px brow span)"
    )


@pytest.mark.parametrize(
    "frame",
    [
        np.zeros((480, 640, 3), np.uint8),
        np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8),
        np.zeros((16, 16, 3), np.uint8),
        np.full((1, 300, 3), 128, np.uint8),
    ],
    ids=["black", "noise", "16x16", "1x300"],
)
def test_frames_without_faces_give_no_faces(backend, frame):
    assert backend.detect(frame) == []


def test_small_face_in_a_720p_frame_is_found(backend, image, face):
    # Face about 90 px wide in 1280 px (7%): below what Face Mesh's own short-range
    # detector finds on the whole frame, so this needs the full-range first stage.
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[100:612, 700:1212] = image
    faces = backend.detect(frame)
    assert len(faces) == 1, f"expected the small face, got {len(faces)} faces"
    error = np.linalg.norm(faces[0].anchors - (face.anchors + [700.0, 100.0]), axis=1)
    assert error.max() < 1.0, f"anchors off by {np.round(error, 2)} px"
    assert 0.5 <= faces[0].score <= 1.0


def test_two_faces_side_by_side(backend, image, face):
    crop = image[30:230, 130:320]
    canvas = np.zeros((300, 500, 3), np.uint8)
    offsets = [(20, 50), (280, 50)]
    for x, y in offsets:
        canvas[y : y + 200, x : x + 190] = crop
    faces = backend.detect(canvas)
    assert len(faces) == 2, f"expected two faces, got {len(faces)}"
    found = sorted((f.anchors for f in faces), key=lambda a: a[0, 0])
    for anchors, (x, y) in zip(found, offsets):
        expected = face.anchors + np.array([x - 130.0, y - 30.0])
        error = np.linalg.norm(anchors - expected, axis=1)
        assert error.max() < 2.0, f"face pasted at {(x, y)}: anchor errors {np.round(error, 2)} px"


def test_max_faces_and_face_filter(image):
    crop = image[30:230, 130:320]
    canvas = np.zeros((300, 500, 3), np.uint8)
    canvas[50:250, 20:210] = crop
    canvas[50:250, 280:470] = crop
    single = MediaPipeBackend(max_faces=1)
    assert len(single.detect(canvas)) == 1
    single.reset()
    strict = MediaPipeBackend(face_filter=FaceFilter(min_width=200))
    assert strict.detect(canvas) == []
    strict.reset()


def test_tracking_mode_follows_the_same_face(image, face):
    tracker = MediaPipeBackend(tracking=True)
    for _ in range(3):
        faces = tracker.detect(image)
        assert len(faces) == 1
        error = np.linalg.norm(faces[0].anchors - face.anchors, axis=1)
        assert error.max() < 2.0, f"tracking anchors off by {np.round(error, 2)} px"
    tracker.reset()
    assert len(tracker.detect(image)) == 1
    tracker.reset()


def test_bad_frames_are_rejected(backend):
    with pytest.raises(BadInputError, match="uint8"):
        backend.detect(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(BadInputError, match=r"\(H, W, 3\)"):
        backend.detect(np.zeros((64, 64), np.uint8))
    with pytest.raises(BadInputError, match="empty"):
        backend.detect(np.zeros((0, 64, 3), np.uint8))


def test_missing_mediapipe_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    with pytest.raises(MissingDependencyError, match=r"pip install --no-deps mediapipe==0\.10\.21"):
        MediaPipeBackend().detect(np.zeros((64, 64, 3), np.uint8))


def test_anchor_indices_use_the_brow_centre_line_and_lower_nose():
    # upper and lower brow contour (calibrated against dlib, see tests/unit/face/test_anchor_calibration.py)
    assert MEDIAPIPE_478.left_brow == (70, 63, 105, 66, 107, 46, 53, 52, 65, 55)
    assert MEDIAPIPE_478.right_brow == (300, 293, 334, 296, 336, 276, 283, 282, 295, 285)
    assert MEDIAPIPE_478.nose == (5, 1, 98, 327)
    assert len(set(MEDIAPIPE_478.mouth)) == 20


def test_registry_names():
    assert BACKENDS == ["mediapipe", "insightface", "face_alignment"]
    with pytest.raises(BadInputError, match="mediapipe, insightface, face_alignment"):
        get_backend("dlib")


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts native threads through Linux /proc")
def test_close_frees_the_native_graphs(image):
    """Each open MediaPipe graph holds native threads; closed backends leave none behind."""
    def threads() -> int:
        return len(os.listdir("/proc/self/task"))

    counts = []
    for _ in range(4):
        with MediaPipeBackend() as backend:
            assert len(backend.detect(image)) == 1
            open_threads = threads()
        counts.append(threads())
    per_backend = open_threads - counts[-1]
    assert per_backend > 0, "the graphs were expected to run threads while open"
    # A leak adds a backend's threads (4 or more) on every run; a stray thread another library starts
    # lazily (seen once in CI: 42 -> 43) stays below one backend's worth over all runs.
    assert counts[-1] - counts[0] < per_backend, f"native threads grew across runs: {counts}"


@pytest.mark.parametrize("face_width", [250, 700, 1500])
def test_faces_of_1080p_shots_are_found_from_medium_to_extreme_close_up(face_width):
    """1500 px: the face is cut by the frame edges and the full-range detector misses it."""
    frame = closeup_1080p(face_width)
    with MediaPipeBackend() as backend:
        faces = backend.detect(frame)
    assert len(faces) == 1
    left, right, nose = faces[0].anchors
    assert left[0] < nose[0] < right[0] and nose[1] > max(left[1], right[1])
    assert abs(nose[0] - 960) < 0.1 * face_width, f"nose x {nose[0]:.0f} far from the face centre"
