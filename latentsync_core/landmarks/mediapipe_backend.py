"""MediaPipe Face Mesh landmarks: the default, offline backend (no model download).

Uses ``mediapipe.solutions.face_mesh`` of mediapipe 0.10.21, which bundles its
models: 468 mesh points + 10 iris points (``refine_landmarks``) = 478 points.

Anchor mapping onto the points LatentSync takes from InsightFace's 106-point
model (image-left = the subject's right side in an upright, unmirrored face;
MediaPipe's own "left/right" names are the subject's):

==============  ===============================  ==================================  ==========================
anchor          InsightFace 106 (LatentSync)     MediaPipe mesh                      meaning
==============  ===============================  ==================================  ==========================
left brow       43, 48, 49, 51, 50               70, 63, 105, 66, 107                upper brow contour, outer
                                                                                     end to inner end
right brow      101, 102, 103, 104, 105          300, 293, 334, 296, 336             same, other brow
nose            74                               5                                   lower nose bridge
nose            86                               1                                   nose tip
nose            77, 83                           98, 327                             left / right nostril wing
mouth           (52..71)                         61, 185, 40, 39, 37, 0, 267, 269,   outer lip ring
                                                 270, 409, 291, 375, 321, 405, 314,
                                                 17, 84, 181, 91, 146
==============  ===============================  ==================================  ==========================

InsightFace's brow picks are the points LatentSync lists in the 68-point brow
slots (17-21, 22-26) of its landmark re-ordering, and 73, 74, 86 fill the nose
bridge slots down to the tip; 77 and 83 are a left/right pair on the lower nose.
MediaPipe's equivalents are the upper brow contour, the bridge point two thirds
of the way from the eyes (6) to the tip (1), the tip, and the outer lower
nostril-wing points. The mapping is semantic, not fitted: expect a few pixels'
difference to InsightFace's anchors on a 256-pixel face.

The mouth ring starts at the image-left mouth corner and runs clockwise on
screen (along the upper lip first). Coordinates are pixels with integer values
at pixel centres (MediaPipe's normalised ``x * width - 0.5``).

Static-image mode (default) runs the face detector on every frame: results
depend only on that frame (any frame order, any subset, no state between
videos), new faces are found at once, and a lost face cannot pull the mesh onto
background. The per-frame jitter this leaves is removed by the temporal smoothing
of the alignment stage, as LatentSync smooths its per-frame InsightFace landmarks.
``tracking=True`` (MediaPipe's video mode) seeds each frame with the previous
frame's mesh: faster and smoother on one continuous shot, but order-dependent,
slow to notice new faces, and it must be :meth:`reset` between clips.
"""
from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np

from ..errors import MissingDependencyError
from .anchors import AnchorIndices, extent_box
from .base import FaceLandmarks, check_frame
from .selection import FaceFilter

MEDIAPIPE_INSTALL = "pip install --no-deps mediapipe==0.10.21"

MEDIAPIPE_478 = AnchorIndices(
    left_brow=(70, 63, 105, 66, 107),
    right_brow=(300, 293, 334, 296, 336),
    nose=(5, 1, 98, 327),
    mouth=(61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146),
)

def import_mediapipe() -> Any:
    """Import mediapipe or raise :class:`MissingDependencyError` with the install command."""
    try:
        import mediapipe
    except ImportError as exc:
        raise MissingDependencyError("mediapipe", "The MediaPipe landmark backend", MEDIAPIPE_INSTALL) from exc
    return mediapipe


class MediaPipeBackend:
    """478-point MediaPipe Face Mesh landmarks.

    Args:
        max_faces: most faces returned per frame.
        min_detection_confidence: face detector threshold in ``[0, 1]``.
        min_tracking_confidence: mesh confidence below which video mode re-detects.
        tracking: MediaPipe video mode (see module doc); False runs detection on every frame.
        face_filter: drop faces it rejects; ``None`` keeps every face.
    """

    name = "mediapipe"

    def __init__(
        self,
        max_faces: int = 4,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        tracking: bool = False,
        face_filter: FaceFilter | None = None,
    ) -> None:
        self.max_faces = max_faces
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        self.tracking = tracking
        self.face_filter = face_filter
        self._mesh: Any = None
        self._lock = threading.Lock()

    def _face_mesh(self) -> Any:
        """The MediaPipe graph, created on first use (caller holds the lock)."""
        if self._mesh is None:
            mp = import_mediapipe()
            with warnings.catch_warnings():
                # mediapipe 0.10.21 calls a protobuf API that protobuf >= 5 marks deprecated.
                warnings.simplefilter("ignore", DeprecationWarning)
                self._mesh = mp.solutions.face_mesh.FaceMesh(
                    static_image_mode=not self.tracking,
                    max_num_faces=self.max_faces,
                    refine_landmarks=True,
                    min_detection_confidence=self.min_detection_confidence,
                    min_tracking_confidence=self.min_tracking_confidence,
                )
        return self._mesh

    def reset(self) -> None:
        """Forget tracking state (and free the graph); the next frame starts fresh."""
        with self._lock:
            if self._mesh is not None:
                self._mesh.close()
                self._mesh = None

    def detect(self, frame: np.ndarray) -> list[FaceLandmarks]:
        """Faces in ``frame`` (``(H, W, 3)`` uint8 RGB), largest first.

        ``score`` is 1.0: Face Mesh reports no per-face confidence (faces under
        ``min_detection_confidence`` are never returned). ``bbox`` is the extent of the 478 points.
        """
        check_frame(frame)
        height, width = frame.shape[:2]
        with self._lock:
            result = self._face_mesh().process(np.ascontiguousarray(frame))
        found = result.multi_face_landmarks or []
        scale = np.array([width, height], dtype=np.float64)
        faces = []
        for mesh in found:
            points = np.array([(p.x, p.y) for p in mesh.landmark], dtype=np.float64) * scale - 0.5
            faces.append(
                FaceLandmarks(
                    points=points,
                    anchors=MEDIAPIPE_478.anchors(points),
                    mouth=MEDIAPIPE_478.mouth_contour(points),
                    bbox=extent_box(points),
                    score=1.0,
                )
            )
        faces.sort(key=lambda f: -(f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]))
        return self.face_filter(faces) if self.face_filter is not None else faces
