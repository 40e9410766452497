"""The MediaPipe "mesh engine" interface: one face detector + 478-point Face Mesh.

Two mediapipe generations provide the same 478-point mesh (468 mesh points + 10
iris points) through different APIs:

* mediapipe 0.10.21 and older (wheels for Python <= 3.12): ``mp.solutions`` with
  bundled models, :class:`.mediapipe_solutions.SolutionsEngine`;
* mediapipe >= 0.10.30 / 1.x (``py3-none`` wheels, every Python): only the Tasks
  API, whose ``FaceLandmarker`` needs the ``face_landmarker.task`` model file,
  :class:`.mediapipe_tasks.TasksEngine`.

:func:`open_mesh_engine` picks the one the installed mediapipe has. Engines return
pixel coordinates (integers at pixel centres) and hold native graphs until
:meth:`MeshEngine.close`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np

from ...errors import MissingDependencyError
from ...mediapipe_release import mediapipe_install_command
from .anchors import extent_box
from .native_logs import quiet_native_logs


@dataclass(frozen=True)
class FoundFace:
    """One face the engine's detector found in a whole frame.

    Attributes:
        box: ``(4,)`` float64 ``x1, y1, x2, y2`` in frame pixels.
        score: detector confidence in ``[0, 1]``.
    """

    box: np.ndarray
    score: float


class MeshEngine(Protocol):
    """Face detection and 478-point Face Mesh on ``(H, W, 3)`` uint8 RGB images."""

    def find_faces(self, frame: np.ndarray) -> list[FoundFace]:
        """Faces anywhere in ``frame``, small ones included, at most ``max_faces``, best first."""
        ...

    def mesh(self, image: np.ndarray) -> list[np.ndarray]:
        """``(478, 2)`` meshes of the (at most two) large faces in ``image``, a crop around a face."""
        ...

    def track(self, frame: np.ndarray) -> list[np.ndarray]:
        """Video-mode meshes of ``frame``, seeded by the previous call's (order-dependent)."""
        ...

    def close(self) -> None:
        """Free the native graphs; the engine builds them again when used after this."""
        ...


def import_mediapipe() -> Any:
    """Import mediapipe (its native log lines filtered) or raise :class:`MissingDependencyError`."""
    try:
        with quiet_native_logs():
            import mediapipe
    except ImportError as exc:
        raise MissingDependencyError("mediapipe", "The MediaPipe landmark backend", mediapipe_install_command()) from exc
    return mediapipe


def mesh_points(landmarks: Sequence[Any], width: int, height: int) -> np.ndarray:
    """``(N, 2)`` pixel coordinates (integers at pixel centres) of normalised landmarks ``.x, .y``."""
    scale = np.array([width, height], dtype=np.float64)
    return np.array([(p.x, p.y) for p in landmarks], dtype=np.float64) * scale - 0.5


def mesh_faces(meshes: list[np.ndarray], max_faces: int) -> list[FoundFace]:
    """The extent boxes of ``meshes`` as detections (score 1.0: a mesh reports no detector score)."""
    return [FoundFace(box=extent_box(points), score=1.0) for points in meshes[:max_faces]]


def open_mesh_engine(
    max_faces: int,
    min_detection_confidence: float,
    min_tracking_confidence: float,
    model_dir: str | None,
    download: bool,
) -> MeshEngine:
    """The engine of the installed mediapipe: bundled solutions, else Tasks with ``face_landmarker.task``.

    ``model_dir`` and ``download`` locate (and fetch) the Tasks model file; the
    solutions engine needs no file.
    """
    mp = import_mediapipe()
    if hasattr(mp, "solutions") and hasattr(mp.solutions, "face_mesh"):
        from .mediapipe_solutions import SolutionsEngine, check_protobuf
        check_protobuf()

        return SolutionsEngine(mp, max_faces, min_detection_confidence, min_tracking_confidence)
    from .mediapipe_tasks import TasksEngine, face_landmarker_file

    model = face_landmarker_file(model_dir, download)
    return TasksEngine(mp, model, max_faces, min_detection_confidence, min_tracking_confidence)
