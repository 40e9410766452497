"""Mesh engine on MediaPipe's Tasks ``FaceLandmarker`` (mediapipe >= 0.10.30 / 1.x, every Python).

These releases ship no model: ``face_landmarker.task`` (Google's float16 bundle,
version 1: BlazeFace short-range detector, 478-point mesh, blendshapes) is read
from the models folder, ``models/mediapipe/`` (ComfyUI's models folder, or the
command line's ``--models-dir``), and downloaded there on first use.

The bundle's detector is the short-range one, which finds faces at least about a
fifth of the image wide. :meth:`TasksEngine.find_faces` therefore looks at the
whole frame first and, when that finds nothing, at overlapping square windows half
the frame's short side wide, which brings faces down to about a tenth of the frame
into range (the solutions engine's full-range detector reaches about 8%).
"""
from __future__ import annotations

import atexit
import os
import weakref
from typing import Any

import numpy as np

from ...files.downloads import ensure_model_file
from .anchors import extent_box
from .mesh_engine import FoundFace, mesh_faces, mesh_points
from .native_logs import quiet_native_logs

FACE_LANDMARKER_FILE = "face_landmarker.task"
FACE_LANDMARKER_URL = (
    "https://storage.googleapis.com/mediapipe-models/face_landmarker/face_landmarker/float16/1/face_landmarker.task"
)
# sha256 of that versioned file (3,758,596 bytes), as other projects pinning it publish it.
FACE_LANDMARKER_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
MODEL_SUBFOLDER = "mediapipe"
# Frames whose short side is below this get no window pass (a face there is already in range).
MIN_WINDOW_SIDE = 96
# Tasks video mode needs increasing timestamps; frames are spaced as at 30 fps.
FRAME_MS = 33

# Landmarkers still open at exit are closed while mediapipe is intact (its own
# finaliser fails with a traceback once the interpreter has torn its modules down).
_open_engines: weakref.WeakSet[TasksEngine] = weakref.WeakSet()
atexit.register(lambda: [engine.close() for engine in list(_open_engines)])


def face_landmarker_file(model_dir: str | None, download: bool) -> str:
    """Path of ``face_landmarker.task`` in ``model_dir`` (default ``./models/mediapipe``).

    Raises:
        MissingModelError: missing and not downloadable; names the file, the folder and the URL.
    """
    folder = os.path.abspath(model_dir or os.path.join("models", MODEL_SUBFOLDER))
    return ensure_model_file(FACE_LANDMARKER_FILE, folder, FACE_LANDMARKER_URL, download, sha256=FACE_LANDMARKER_SHA256)


def windows(height: int, width: int) -> list[tuple[int, int, int]]:
    """Square windows ``(x0, y0, side)`` half the short side wide, overlapping by half, covering the frame."""
    side = min(height, width) // 2
    if side < MIN_WINDOW_SIDE:
        return []
    step = side // 2

    def starts(length: int) -> list[int]:
        return sorted(set(range(0, length - side + 1, step)) | {length - side})

    return [(x0, y0, side) for y0 in starts(height) for x0 in starts(width)]


class TasksEngine:
    """:class:`.mesh_engine.MeshEngine` on ``FaceLandmarker``; landmarkers are made on first use.

    Args:
        mp: the imported ``mediapipe`` module.
        model_path: ``face_landmarker.task``.
        max_faces: most faces :meth:`find_faces` and :meth:`track` return.
        min_detection_confidence: detector threshold in ``[0, 1]``.
        min_tracking_confidence: mesh confidence below which video mode re-detects.
    """

    def __init__(
        self, mp: Any, model_path: str, max_faces: int, min_detection_confidence: float, min_tracking_confidence: float
    ) -> None:
        self._mp = mp
        # Read once and passed as a buffer: MediaPipe's own file reading fails on some non-ASCII Windows paths.
        with open(model_path, "rb") as f:
            self._model = f.read()
        self.max_faces = max_faces
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        self._landmarkers: dict[str, Any] = {}
        self._timestamp_ms = 0

    def _landmarker(self, kind: str) -> Any:
        """``"image"`` (static, up to ``max_faces``) or ``"video"`` (tracking) landmarker."""
        if kind not in self._landmarkers:
            vision = self._mp.tasks.vision
            options = vision.FaceLandmarkerOptions(
                base_options=self._mp.tasks.BaseOptions(model_asset_buffer=self._model),
                running_mode=vision.RunningMode.IMAGE if kind == "image" else vision.RunningMode.VIDEO,
                num_faces=self.max_faces,
                min_face_detection_confidence=self.min_detection_confidence,
                min_face_presence_confidence=self.min_detection_confidence,
                min_tracking_confidence=self.min_tracking_confidence,
            )
            with quiet_native_logs():
                self._landmarkers[kind] = vision.FaceLandmarker.create_from_options(options)
            _open_engines.add(self)
        return self._landmarkers[kind]

    def _image(self, pixels: np.ndarray) -> Any:
        return self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(pixels))

    def mesh(self, image: np.ndarray) -> list[np.ndarray]:
        height, width = image.shape[:2]
        landmarker = self._landmarker("image")
        with quiet_native_logs():
            result = landmarker.detect(self._image(image))
        return [mesh_points(face, width, height) for face in result.face_landmarks]

    def track(self, frame: np.ndarray) -> list[np.ndarray]:
        height, width = frame.shape[:2]
        landmarker = self._landmarker("video")
        self._timestamp_ms += FRAME_MS
        with quiet_native_logs():
            result = landmarker.detect_for_video(self._image(frame), self._timestamp_ms)
        return [mesh_points(face, width, height) for face in result.face_landmarks]

    def find_faces(self, frame: np.ndarray) -> list[FoundFace]:
        """Boxes of the faces meshed in the whole frame, else in the windows (see module doc).

        The box is the mesh's extent; the score is 1.0 (the Tasks API reports none). The
        caller meshes a crop around each box again: a face meshed from a detection on a
        downscaled whole frame comes out less precise than from a crop.
        """
        meshes = self.mesh(frame)
        if not meshes:
            height, width = frame.shape[:2]
            for x0, y0, side in windows(height, width):
                for points in self.mesh(frame[y0 : y0 + side, x0 : x0 + side]):
                    points = points + np.array([x0, y0], dtype=np.float64)
                    if not any(_inside(points.mean(axis=0), extent_box(kept)) for kept in meshes):
                        meshes.append(points)
        return mesh_faces(meshes, self.max_faces)

    def close(self) -> None:
        with quiet_native_logs():
            for landmarker in self._landmarkers.values():
                landmarker.close()
        self._landmarkers.clear()
        self._timestamp_ms = 0


def _inside(point: np.ndarray, box: np.ndarray) -> bool:
    return bool(box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3])
