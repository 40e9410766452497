"""Landmark backends behind one interface (see :mod:`.base`).

``get_backend(name, **options)`` builds one by name; ``BACKENDS`` lists the names
(for a node's combo box), the offline default first. Backends import their
libraries lazily, so a missing optional package only fails when that backend is used.
"""
from __future__ import annotations

from typing import Any

from ...errors import BadInputError
from .base import FaceLandmarks, LandmarkBackend
from .selection import FaceFilter, largest_face

BACKENDS = ["mediapipe", "insightface", "face_alignment"]


def get_backend(name: str, **options: Any) -> LandmarkBackend:
    """Build the backend called ``name`` with its keyword ``options``.

    ``"mediapipe"``: :class:`.mediapipe_backend.MediaPipeBackend` (offline default);
    ``"insightface"``: :class:`.insightface_onnx.InsightFaceOnnxBackend` (needs ``model_dir``);
    ``"face_alignment"``: :class:`.face_alignment_backend.FaceAlignmentBackend`.
    """
    if name == "mediapipe":
        from .mediapipe_backend import MediaPipeBackend

        return MediaPipeBackend(**options)
    if name == "insightface":
        from .insightface_onnx import InsightFaceOnnxBackend

        return InsightFaceOnnxBackend(**options)
    if name == "face_alignment":
        from .face_alignment_backend import FaceAlignmentBackend

        return FaceAlignmentBackend(**options)
    raise BadInputError(f"Unknown landmark backend '{name}'; choose one of {', '.join(BACKENDS)}.")


__all__ = ["BACKENDS", "FaceFilter", "FaceLandmarks", "LandmarkBackend", "get_backend", "largest_face"]
