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
MediaPipe's equivalents are the upper brow contour, the bridge point about 60%
of the way from between the eyes (6) to the tip (1), the tip, and the outer lower
nostril-wing points. The mapping is semantic, not fitted to InsightFace outputs
(no InsightFace weights were available to compare against).

The mouth ring starts at the image-left mouth corner and runs clockwise on
screen (along the upper lip first). Coordinates are pixels with integer values
at pixel centres (MediaPipe's normalised ``x * width - 0.5``).

Static mode (default) detects faces afresh in every frame (see
:class:`MediaPipeBackend` for the two stages): results depend only on that frame
(any frame order, any subset, no state between videos), new faces are found at
once, and a lost face cannot drag the mesh onto background. ``tracking=True``
(MediaPipe's video mode on the whole frame) seeds each frame with the previous
frame's mesh; it is order-dependent, must be :meth:`reset` between clips, and only
finds faces the short-range detector sees (about a fifth of the frame width or
more). On a synthetic drifting 720p shot (``bench/bench_landmarks.py``) static mode
found the face in 60/60 frames with 0.40 px mean anchor error and 0.34 px rms
frame-to-frame change; tracking mode lost 24/60 frames, 1.12 px and 0.33 px. So
static mode is the default; remaining jitter is for the alignment stage's temporal
smoothing, as LatentSync smooths its per-frame InsightFace landmarks.
"""
from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np

from ...errors import MissingDependencyError
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


def _mesh_points(mesh: Any, width: int, height: int) -> np.ndarray:
    """``(478, 2)`` pixel coordinates (integers at pixel centres) of one normalised mesh."""
    scale = np.array([width, height], dtype=np.float64)
    return np.array([(p.x, p.y) for p in mesh.landmark], dtype=np.float64) * scale - 0.5


def square_crop(frame: np.ndarray, box: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Square window of side ``factor * max(w, h)`` centred on ``box``, black outside ``frame``.

    Returns the ``(S, S, 3)`` uint8 crop and its integer ``(x0, y0)`` frame offset
    (crop pixel ``(i, j)`` is frame pixel ``(x0 + i, y0 + j)``).
    """
    x1, y1, x2, y2 = box
    side = max(int(np.ceil(factor * max(x2 - x1, y2 - y1))), 1)
    x0 = int(round((x1 + x2) / 2 - side / 2))
    y0 = int(round((y1 + y2) / 2 - side / 2))
    crop = np.zeros((side, side, 3), dtype=np.uint8)
    height, width = frame.shape[:2]
    fx1, fy1, fx2, fy2 = max(x0, 0), max(y0, 0), min(x0 + side, width), min(y0 + side, height)
    if fx2 > fx1 and fy2 > fy1:
        crop[fy1 - y0 : fy2 - y0, fx1 - x0 : fx2 - x0] = frame[fy1:fy2, fx1:fx2]
    return crop, np.array([x0, y0], dtype=np.float64)


class MediaPipeBackend:
    """478-point MediaPipe Face Mesh landmarks.

    Static mode (default) is two-stage: MediaPipe's full-range face detector
    (``model_selection=1``, finds faces down to about 8% of the frame width) boxes
    the faces, then Face Mesh runs on a square crop ``CROP_FACTOR`` times the box
    around each. Face Mesh alone on the whole frame uses the short-range detector,
    which misses faces narrower than about a fifth of the frame (most faces in a
    1080p shot that is not a close-up).

    Args:
        max_faces: most faces returned per frame (the highest detector scores).
        min_detection_confidence: face detector threshold in ``[0, 1]``.
        min_tracking_confidence: mesh confidence below which video mode re-detects.
        tracking: MediaPipe video mode on the whole frame (see module doc); False
            detects afresh in every frame.
        face_filter: drop faces it rejects; ``None`` keeps every face.
        device: accepted for a uniform backend interface; MediaPipe's Python
            solutions run on the CPU.
    """

    name = "mediapipe"
    CROP_FACTOR = 3.0

    def __init__(
        self,
        max_faces: int = 4,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        tracking: bool = False,
        face_filter: FaceFilter | None = None,
        device: str = "cpu",
    ) -> None:
        self.max_faces = max_faces
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        self.tracking = tracking
        self.face_filter = face_filter
        self.device = device
        self._graphs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _graph(self, kind: str) -> Any:
        """The MediaPipe graph ``"detector"``, ``"mesh"`` or ``"tracker"``, made on first use.

        The caller holds the lock.
        """
        if kind not in self._graphs:
            mp = import_mediapipe()
            with warnings.catch_warnings():
                # mediapipe 0.10.21 calls a protobuf API that protobuf >= 5 marks deprecated.
                warnings.simplefilter("ignore", DeprecationWarning)
                if kind == "detector":
                    graph = mp.solutions.face_detection.FaceDetection(
                        model_selection=1, min_detection_confidence=self.min_detection_confidence
                    )
                else:
                    graph = mp.solutions.face_mesh.FaceMesh(
                        static_image_mode=kind == "mesh",
                        max_num_faces=2 if kind == "mesh" else self.max_faces,
                        refine_landmarks=True,
                        min_detection_confidence=self.min_detection_confidence,
                        min_tracking_confidence=self.min_tracking_confidence,
                    )
            self._graphs[kind] = graph
        return self._graphs[kind]

    def reset(self) -> None:
        """Forget tracking state and free the graphs; the next frame starts fresh."""
        with self._lock:
            for graph in self._graphs.values():
                graph.close()
            self._graphs.clear()

    def detect(self, frame: np.ndarray) -> list[FaceLandmarks]:
        """Faces in ``frame`` (``(H, W, 3)`` uint8 RGB), largest first.

        ``bbox`` is the extent of the 478 points. ``score`` is the face detector's
        confidence in static mode and 1.0 in tracking mode (the tracker reports none).
        """
        check_frame(frame)
        frame = np.ascontiguousarray(frame)
        with self._lock:
            found = self._track(frame) if self.tracking else self._detect_static(frame)
        faces = [
            FaceLandmarks(
                points=points,
                anchors=MEDIAPIPE_478.anchors(points),
                mouth=MEDIAPIPE_478.mouth_contour(points),
                bbox=extent_box(points),
                score=score,
            )
            for points, score in found
        ]
        faces.sort(key=lambda f: -(f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]))
        return self.face_filter(faces) if self.face_filter is not None else faces

    def _track(self, frame: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Video-mode Face Mesh on the whole frame."""
        result = self._graph("tracker").process(frame)
        height, width = frame.shape[:2]
        return [(_mesh_points(mesh, width, height), 1.0) for mesh in result.multi_face_landmarks or []]

    def _detect_static(self, frame: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Full-range detection, then Face Mesh on a crop around each detected face."""
        height, width = frame.shape[:2]
        detections = self._graph("detector").process(frame).detections or []
        detections = sorted(detections, key=lambda d: -d.score[0])[: self.max_faces]
        found = []
        for detection in detections:
            rel = detection.location_data.relative_bounding_box
            x1, y1 = rel.xmin * width, rel.ymin * height
            box = np.array([x1, y1, x1 + rel.width * width, y1 + rel.height * height])
            crop, offset = square_crop(frame, box, self.CROP_FACTOR)
            meshes = self._graph("mesh").process(crop).multi_face_landmarks or []
            if not meshes:
                continue
            # The crop may show a neighbouring face too: keep the mesh centred nearest the box.
            centre = (box[:2] + box[2:]) / 2 - offset
            candidates = [_mesh_points(mesh, crop.shape[1], crop.shape[0]) for mesh in meshes]
            points = min(candidates, key=lambda p: float(np.linalg.norm(p.mean(axis=0) - centre)))
            found.append((points + offset, float(detection.score[0])))
        return found
