"""MediaPipe Face Mesh landmarks: the default backend.

468 mesh points + 10 iris points = 478 points, from whichever mediapipe is
installed (see :mod:`.mesh_engine`): 0.10.21's ``mp.solutions`` with bundled models
(Python <= 3.12), or the Tasks ``FaceLandmarker`` of later releases, whose
``face_landmarker.task`` is read from ``model_dir`` (downloaded on first use when
``download`` is on). Both give the same mesh, so the same anchor mapping.

Anchor mapping onto the points LatentSync takes from InsightFace's 106-point
model (image-left = the subject's right side in an upright, unmirrored face;
MediaPipe's own "left/right" names are the subject's):

==============  ===============================  ==================================  ==========================
anchor          InsightFace 106 (LatentSync)     MediaPipe mesh                      meaning
==============  ===============================  ==================================  ==========================
left brow       43, 48, 49, 51, 50               70, 63, 105, 66, 107 and            upper and lower brow
                                                 46, 53, 52, 65, 55                  contour (brow centre line)
right brow      101, 102, 103, 104, 105          300, 293, 334, 296, 336 and         same, other brow
                                                 276, 283, 282, 295, 285
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
MediaPipe's equivalents are the brow centre line (upper and lower contour), the
bridge point about 60% of the way from between the eyes (6) to the tip (1), the
tip, and the outer lower nostril-wing points. The brows were first mapped to the
upper contour alone; measured against dlib's 68-point model that put both brow
anchors about 3.4 template px (at 256) too high, so the lower contour was added
(see :mod:`.anchors` for the figures and ``bench/calibrate_anchors.py``).

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
smoothing, as LatentSync smooths its per-frame InsightFace landmarks. Within a shot
the aligner does not detect in every frame: it follows the face with
:meth:`MediaPipeBackend.follow` (static-mode Face Mesh on a crop around the previous
frame's face, no whole-frame detector).
"""
from __future__ import annotations

import threading

import numpy as np
import torch

from .anchors import AnchorIndices, extent_box
from .base import FaceLandmarks, check_frame, square_crop
from .mesh_engine import MeshEngine, import_mediapipe, open_mesh_engine
from .selection import FaceFilter

MEDIAPIPE_478 = AnchorIndices(
    left_brow=(70, 63, 105, 66, 107, 46, 53, 52, 65, 55),
    right_brow=(300, 293, 334, 296, 336, 276, 283, 282, 295, 285),
    nose=(5, 1, 98, 327),
    mouth=(61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146),
)


class MediaPipeBackend:
    """478-point MediaPipe Face Mesh landmarks.

    Static mode (default) is two-stage: the engine's detector finds the faces in the
    whole frame (mediapipe 0.10.21: the full-range face detector, ``model_selection=1``,
    faces down to about 8% of the frame width; Tasks: see :mod:`.mediapipe_tasks`),
    then Face Mesh runs on a square crop ``CROP_FACTOR`` times the box around each.
    Face Mesh alone on the whole frame uses
    the short-range detector, which misses faces narrower than about a fifth of the
    frame (most faces in a 1080p shot that is not a close-up).

    Args:
        max_faces: most faces returned per frame (the highest detector scores).
        min_detection_confidence: face detector threshold in ``[0, 1]``.
        min_tracking_confidence: mesh confidence below which video mode re-detects.
        tracking: MediaPipe video mode on the whole frame (see module doc); False
            detects afresh in every frame.
        face_filter: drop faces it rejects; ``None`` keeps every face.
        model_dir: folder of ``face_landmarker.task`` for the Tasks engine (default
            ``./models/mediapipe``); unused with mediapipe 0.10.21's bundled models.
        download: fetch ``face_landmarker.task`` into ``model_dir`` when it is missing.
        device: accepted for a uniform backend interface; MediaPipe runs on the CPU.
    """

    name = "mediapipe"
    CROP_FACTOR = 3.0
    FOLLOW_CROP_FACTOR = 2.0

    def __init__(
        self,
        max_faces: int = 4,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        tracking: bool = False,
        face_filter: FaceFilter | None = None,
        model_dir: str | None = None,
        download: bool = True,
        device: str = "cpu",
    ) -> None:
        self.max_faces = max_faces
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        self.tracking = tracking
        self.face_filter = face_filter
        self.model_dir = model_dir
        self.download = download
        self.device = device
        self._engine: MeshEngine | None = None
        self._lock = threading.Lock()

    def _mesh_engine(self) -> MeshEngine:
        """The mesh engine, opened on first use. The caller holds the lock."""
        if self._engine is None:
            self._engine = open_mesh_engine(
                self.max_faces, self.min_detection_confidence, self.min_tracking_confidence, self.model_dir, self.download
            )
        return self._engine

    def close(self) -> None:
        """Free MediaPipe's native graphs (and tracking state); the next frame reopens them."""
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None

    def reset(self) -> None:
        """Forget tracking state and free the graphs; the next frame starts fresh."""
        self.close()

    def __enter__(self) -> MediaPipeBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def library_version(self) -> str:
        """The installed mediapipe release (part of the landmark cache key)."""
        return str(import_mediapipe().__version__)

    def detect(self, frame: np.ndarray) -> list[FaceLandmarks]:
        """Faces in ``frame`` (``(H, W, 3)`` uint8 RGB), largest first.

        ``bbox`` is the extent of the 478 points. ``score`` is the face detector's
        confidence in static mode and 1.0 in tracking mode (the tracker reports none).
        """
        check_frame(frame)
        frame = np.ascontiguousarray(frame)
        with self._lock:
            found = self._track(frame) if self.tracking else self._detect_static(frame)
        faces = [_face(points, score) for points, score in found]
        faces.sort(key=lambda f: -(f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]))
        return self.face_filter(faces) if self.face_filter is not None else faces

    def follow(self, frame: np.ndarray | torch.Tensor, previous: FaceLandmarks) -> FaceLandmarks | None:
        """The face continuing ``previous``: Face Mesh on a crop ``FOLLOW_CROP_FACTOR`` times its box.

        Skips the whole-frame detector. The mesh's own short-range detector runs on the
        crop and is the face gate: a crop without a face gives no mesh, so ``None``
        (the caller then detects on the whole frame). The score is ``previous``'s.
        """
        crop, offset = square_crop(frame, previous.bbox, self.FOLLOW_CROP_FACTOR)
        with self._lock:
            meshes = self._mesh_engine().mesh(crop)
        if not meshes:
            return None
        centre = (previous.bbox[:2] + previous.bbox[2:]) / 2 - offset
        points = min(meshes, key=lambda p: float(np.linalg.norm(p.mean(axis=0) - centre)))
        face = _face(points + offset, previous.score)
        return face if self.face_filter is None or self.face_filter.accepts(face) else None

    def _track(self, frame: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Video-mode Face Mesh on the whole frame."""
        return [(points, 1.0) for points in self._mesh_engine().track(frame)]

    def _detect_static(self, frame: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Detection on the whole frame, then Face Mesh on a crop around each detected face."""
        engine = self._mesh_engine()
        found = []
        for face in engine.find_faces(frame):
            crop, offset = square_crop(frame, face.box, self.CROP_FACTOR)
            meshes = engine.mesh(crop)
            if not meshes:
                continue
            # The crop may show a neighbouring face too: keep the mesh centred nearest the box.
            centre = (face.box[:2] + face.box[2:]) / 2 - offset
            points = min(meshes, key=lambda p: float(np.linalg.norm(p.mean(axis=0) - centre)))
            found.append((points + offset, face.score))
        return found


def _face(points: np.ndarray, score: float) -> FaceLandmarks:
    """:class:`FaceLandmarks` of a ``(478, 2)`` mesh."""
    return FaceLandmarks(
        points=points,
        anchors=MEDIAPIPE_478.anchors(points),
        mouth=MEDIAPIPE_478.mouth_contour(points),
        bbox=extent_box(points),
        score=score,
    )
