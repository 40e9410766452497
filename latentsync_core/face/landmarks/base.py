"""The landmark-backend interface shared by every detector.

A backend finds faces in one RGB frame and returns, for each, its landmarks
and the three anchor points the LatentSync face template is fitted to
(left-brow mean, right-brow mean, nose mean; "left" is the image's left).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ...errors import BadInputError


@dataclass(frozen=True)
class FaceLandmarks:
    """One detected face, in source-frame pixel coordinates (x right, y down).

    Attributes:
        points: ``(K, 2)`` float64, all landmarks of the backend's scheme.
        anchors: ``(3, 2)`` float64: image-left brow mean, image-right brow
            mean, nose mean, the points fitted to the LatentSync template.
        mouth: ``(M, 2)`` float64, the outer lip contour (M >= 4).
        bbox: ``(4,)`` float64 ``x1, y1, x2, y2`` of the face.
        score: detection confidence in ``[0, 1]``.
    """

    points: np.ndarray
    anchors: np.ndarray
    mouth: np.ndarray
    bbox: np.ndarray
    score: float = 1.0


class LandmarkBackend(Protocol):
    """Finds faces in frames. Implementations load their model lazily."""

    name: str

    def detect(self, frame: np.ndarray) -> list[FaceLandmarks]:
        """Return every face in ``frame`` (``(H, W, 3)`` uint8 RGB), any order."""
        ...

    def close(self) -> None:
        """Free the models and native graphs (``contextlib.closing`` it); :meth:`detect` reopens them."""
        ...


def check_frame(frame: np.ndarray) -> None:
    """Raise :class:`BadInputError` unless ``frame`` is a non-empty ``(H, W, 3)`` uint8 array."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        got = f"{frame.dtype} array of shape {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise BadInputError(f"Face detection needs an (H, W, 3) uint8 RGB frame, got {got}; convert the frame first.")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise BadInputError(f"Face detection got an empty frame of shape {frame.shape}; pass frames with pixels.")
