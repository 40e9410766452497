"""68-point landmarks from the ``face-alignment`` package (Bulat & Tzimiropoulos, FAN + S3FD).

Optional: install with ``pip install face-alignment`` (it downloads its own
weights on first use). Anchor mapping onto LatentSync's InsightFace picks
(image-left = the subject's right side in an upright, unmirrored face):

==============  ============================  ============  =======================
anchor          InsightFace 106 (LatentSync)  68-point      meaning
==============  ============================  ============  =======================
left brow       43, 48, 49, 51, 50            17..21        image-left brow
right brow      101..105                      22..26        image-right brow
nose            74                            29            lower nose bridge
nose            86                            30            nose tip
nose            77, 83                        31, 35        left / right nostril wing
mouth           (52..71)                      48..59        outer lip ring
==============  ============================  ============  =======================

The mouth ring starts at the image-left corner (48) and runs clockwise on screen.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ...errors import MissingDependencyError
from .anchors import AnchorIndices
from .base import FaceLandmarks, check_frame
from .selection import FaceFilter

FACE_ALIGNMENT_68 = AnchorIndices(
    left_brow=(17, 18, 19, 20, 21),
    right_brow=(22, 23, 24, 25, 26),
    nose=(29, 30, 31, 35),
    mouth=tuple(range(48, 60)),
)


def import_face_alignment() -> Any:
    """Import face_alignment or raise :class:`MissingDependencyError` with the install command."""
    try:
        import face_alignment
    except ImportError as exc:
        raise MissingDependencyError(
            "face-alignment", "The face-alignment landmark backend", "pip install face-alignment"
        ) from exc
    return face_alignment


def landmarks_68(points: np.ndarray, box: np.ndarray, score: float) -> FaceLandmarks:
    """Build a :class:`FaceLandmarks` from 68 points ``(68, 2)`` and a detector box ``(4,)``."""
    points = np.asarray(points, dtype=np.float64)[:, :2]
    if points.shape != (68, 2):
        raise ValueError(f"Expected 68 landmarks, got {points.shape[0]}.")
    return FaceLandmarks(
        points=points,
        anchors=FACE_ALIGNMENT_68.anchors(points),
        mouth=FACE_ALIGNMENT_68.mouth_contour(points),
        bbox=np.asarray(box[:4], dtype=np.float64),
        score=float(score),
    )


class FaceAlignmentBackend:
    """2D 68-point landmarks from ``face_alignment.FaceAlignment`` (S3FD detector).

    Args:
        device: torch device string, e.g. ``"cpu"`` or ``"cuda:0"``.
        face_filter: drop faces it rejects; ``None`` keeps every face.
    """

    name = "face_alignment"

    def __init__(self, device: str = "cpu", face_filter: FaceFilter | None = None) -> None:
        import_face_alignment()
        self.device = device
        self.face_filter = face_filter
        self._model: Any = None
        self._lock = threading.Lock()

    def _aligner(self) -> Any:
        """The face_alignment model, created on first use (caller holds the lock)."""
        if self._model is None:
            fa = import_face_alignment()
            kind = getattr(fa.LandmarksType, "TWO_D", None) or getattr(fa.LandmarksType, "_2D")
            self._model = fa.FaceAlignment(kind, device=self.device, flip_input=False)
        return self._model

    def close(self) -> None:
        """Drop the face_alignment model (and its GPU memory); :meth:`detect` reloads it."""
        with self._lock:
            self._model = None

    def detect(self, frame: np.ndarray) -> list[FaceLandmarks]:
        """Faces in ``frame`` (``(H, W, 3)`` uint8 RGB), in detector order."""
        check_frame(frame)
        with self._lock:
            points, _, boxes = self._aligner().get_landmarks_from_image(frame, return_bboxes=True)
        faces = [landmarks_68(p, b, b[4] if len(b) > 4 else 1.0) for p, b in zip(points or [], boxes or [])]
        return self.face_filter(faces) if self.face_filter is not None else faces
