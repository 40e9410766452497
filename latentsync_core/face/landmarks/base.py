"""The landmark-backend interface shared by every detector.

A backend finds faces in one RGB frame and returns, for each, its landmarks
and the three anchor points the LatentSync face template is fitted to
(left-brow mean, right-brow mean, nose mean; "left" is the image's left).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from ...errors import BadInputError
from ..frames import to_uint8


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


class FollowingBackend(LandmarkBackend, Protocol):
    """A backend that can also find a face again near where it was in the previous frame."""

    def follow(self, frame: np.ndarray | torch.Tensor, previous: FaceLandmarks) -> FaceLandmarks | None:
        """The face continuing ``previous`` in ``frame``, or ``None`` when no face is there.

        ``frame`` is ``(H, W, 3)`` uint8 RGB or an ``[H, W, 3]`` float 0..1 tensor. A miss
        must be reliable (a face-confidence gate, not a mesh fitted to whatever is there):
        the caller then runs :meth:`detect` on the frame.
        """
        ...


def check_frame(frame: np.ndarray) -> None:
    """Raise :class:`BadInputError` unless ``frame`` is a non-empty ``(H, W, 3)`` uint8 array."""
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        got = f"{frame.dtype} array of shape {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise BadInputError(f"Face detection needs an (H, W, 3) uint8 RGB frame, got {got}; convert the frame first.")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise BadInputError(f"Face detection got an empty frame of shape {frame.shape}; pass frames with pixels.")


def square_crop(frame: np.ndarray | torch.Tensor, box: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """Square window of side ``factor * max(w, h)`` centred on ``box``, black outside ``frame``.

    ``frame`` is ``(H, W, 3)`` uint8, or an ``[H, W, 3]`` float 0..1 tensor of which only
    the window is converted to uint8. Returns the ``(S, S, 3)`` uint8 crop and its integer
    ``(x0, y0)`` frame offset (crop pixel ``(i, j)`` is frame pixel ``(x0 + i, y0 + j)``).
    """
    x1, y1, x2, y2 = box
    side = max(int(np.ceil(factor * max(x2 - x1, y2 - y1))), 1)
    x0 = int(round((x1 + x2) / 2 - side / 2))
    y0 = int(round((y1 + y2) / 2 - side / 2))
    crop = np.zeros((side, side, 3), dtype=np.uint8)
    height, width = frame.shape[:2]
    fx1, fy1, fx2, fy2 = max(x0, 0), max(y0, 0), min(x0 + side, width), min(y0 + side, height)
    if fx2 > fx1 and fy2 > fy1:
        window = frame[fy1:fy2, fx1:fx2]
        crop[fy1 - y0 : fy2 - y0, fx1 - x0 : fx2 - x0] = to_uint8(window) if isinstance(window, torch.Tensor) else window
    return crop, np.array([x0, y0], dtype=np.float64)
