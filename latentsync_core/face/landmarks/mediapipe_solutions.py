"""Mesh engine on mediapipe 0.10.21's ``mp.solutions`` (bundled models, no download).

Detection is MediaPipe's full-range face detector (``model_selection=1``, faces
down to about 8% of the frame width); the mesh is Face Mesh with
``refine_landmarks`` (468 mesh + 10 iris points) in static mode on a crop, or in
video mode on the whole frame for :meth:`SolutionsEngine.track`.
"""
from __future__ import annotations

import warnings
from importlib import metadata
from typing import Any

import numpy as np

from ...errors import LatentSyncError
from ...mediapipe_release import TASKS_RELEASE
from .mesh_engine import FoundFace, mesh_faces, mesh_points
from .native_logs import quiet_native_logs


def check_protobuf() -> None:
    """Raise :class:`LatentSyncError` when protobuf is too new for ``mp.solutions`` (>= 7 removed an API it uses)."""
    version = metadata.version("protobuf")
    if int(version.split(".", 1)[0]) >= 7:
        raise LatentSyncError(
            f"mediapipe 0.10.21 cannot run with protobuf {version}. Run: pip install --no-deps {TASKS_RELEASE} "
            "(its face model downloads on first use), or pip install 'protobuf<7'."
        )


class SolutionsEngine:
    """:class:`.mesh_engine.MeshEngine` on ``mp.solutions``; graphs are built on first use.

    Args:
        mp: the imported ``mediapipe`` module.
        max_faces: most faces :meth:`find_faces` and :meth:`track` return.
        min_detection_confidence: detector threshold in ``[0, 1]``.
        min_tracking_confidence: mesh confidence below which video mode re-detects.
    """

    def __init__(self, mp: Any, max_faces: int, min_detection_confidence: float, min_tracking_confidence: float) -> None:
        self._mp = mp
        self.max_faces = max_faces
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        self._graphs: dict[str, Any] = {}

    def _graph(self, kind: str) -> Any:
        """The graph ``"detector"``, ``"mesh"`` (static, two faces) or ``"tracker"`` (video mode)."""
        if kind not in self._graphs:
            solutions = self._mp.solutions
            with quiet_native_logs(), warnings.catch_warnings():
                # mediapipe 0.10.21 calls a protobuf API that protobuf >= 5 marks deprecated.
                warnings.simplefilter("ignore", DeprecationWarning)
                if kind == "detector":
                    graph = solutions.face_detection.FaceDetection(
                        model_selection=1, min_detection_confidence=self.min_detection_confidence
                    )
                else:
                    graph = solutions.face_mesh.FaceMesh(
                        static_image_mode=kind == "mesh",
                        max_num_faces=2 if kind == "mesh" else self.max_faces,
                        refine_landmarks=True,
                        min_detection_confidence=self.min_detection_confidence,
                        min_tracking_confidence=self.min_tracking_confidence,
                    )
            self._graphs[kind] = graph
        return self._graphs[kind]

    def _process(self, kind: str, image: np.ndarray) -> Any:
        graph = self._graph(kind)
        with quiet_native_logs():
            return graph.process(image)

    def find_faces(self, frame: np.ndarray) -> list[FoundFace]:
        """Full-range detections; when there are none, the faces Face Mesh finds in the whole frame.

        The full-range detector misses a face cut by the frame edges in an extreme
        close-up (wider than about 70% of a 16:9 frame), which the mesh's own
        short-range detector finds.
        """
        height, width = frame.shape[:2]
        detections = self._process("detector", frame).detections or []
        if not detections:
            return mesh_faces(self.mesh(frame), self.max_faces)
        found = []
        for detection in sorted(detections, key=lambda d: -d.score[0])[: self.max_faces]:
            rel = detection.location_data.relative_bounding_box
            x1, y1 = rel.xmin * width, rel.ymin * height
            box = np.array([x1, y1, x1 + rel.width * width, y1 + rel.height * height])
            found.append(FoundFace(box=box, score=float(detection.score[0])))
        return found

    def mesh(self, image: np.ndarray) -> list[np.ndarray]:
        height, width = image.shape[:2]
        return [mesh_points(m.landmark, width, height) for m in self._process("mesh", image).multi_face_landmarks or []]

    def track(self, frame: np.ndarray) -> list[np.ndarray]:
        height, width = frame.shape[:2]
        return [mesh_points(m.landmark, width, height) for m in self._process("tracker", frame).multi_face_landmarks or []]

    def close(self) -> None:
        with quiet_native_logs():
            for graph in self._graphs.values():
                graph.close()
        self._graphs.clear()
