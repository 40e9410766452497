"""Choosing faces: LatentSync's size/shape/score filter and "largest face" pick.

Backends return every face they find; nothing is dropped unless a
:class:`FaceFilter` is given.
"""
from __future__ import annotations

from dataclasses import dataclass

from .base import FaceLandmarks


@dataclass(frozen=True)
class FaceFilter:
    """Keeps faces whose box is big enough, not too wide or tall, and confident enough.

    The defaults are LatentSync's: width >= 50 px, height >= 80 px,
    ``0.2 <= width / height <= 1.5`` and score >= 0.5 (box sides measured on the box
    truncated to whole pixels, as LatentSync does).
    """

    min_width: float = 50.0
    min_height: float = 80.0
    min_aspect: float = 0.2
    max_aspect: float = 1.5
    min_score: float = 0.5

    def accepts(self, face: FaceLandmarks) -> bool:
        """Whether ``face`` passes every bound."""
        x1, y1, x2, y2 = (int(v) for v in face.bbox)
        w, h = x2 - x1, y2 - y1
        if w < self.min_width or h < self.min_height or h <= 0:
            return False
        return self.min_aspect <= w / h <= self.max_aspect and face.score >= self.min_score

    def __call__(self, faces: list[FaceLandmarks]) -> list[FaceLandmarks]:
        """The faces that pass, in their original order."""
        return [face for face in faces if self.accepts(face)]


def largest_face(faces: list[FaceLandmarks]) -> FaceLandmarks | None:
    """The face with the largest box area (the first on ties), or ``None`` for no faces."""
    best, best_area = None, -1.0
    for face in faces:
        x1, y1, x2, y2 = face.bbox
        area = float((x2 - x1) * (y2 - y1))
        if area > best_area:
            best, best_area = face, area
    return best
