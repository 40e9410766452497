"""Choosing the face of one person, given a picture of them, among the faces of a frame (face recognition).

What the Face Align node's ``reference`` input does: the aligner asks :class:`ReferenceFace` for its face
whenever it (re)acquires one (a shot start, a face lost), instead of taking the largest or the n-th from the
left; the face whose embedding (:class:`~.identity.FaceDescriber`) is nearest the reference's, if nearer than
:data:`~.identity.SAME_PERSON`, is followed; none is taken where the person is not in the frame.
"""
from __future__ import annotations

import hashlib

import numpy as np

from .identity import SAME_PERSON, Box, FaceDescriber, distance_matrix, reference_embedding
from .landmarks.base import FaceLandmarks, LandmarkBackend


def face_boxes(backend: LandmarkBackend, image: np.ndarray) -> list[Box]:
    """The faces of ``image`` (``(H, W, 3)`` uint8 RGB) found by ``backend``, as whole-pixel boxes inside it, left to right."""
    h, w = image.shape[:2]
    faces = sorted(backend.detect(np.ascontiguousarray(image)), key=lambda f: f.bbox[0] + f.bbox[2])
    return [_box(f.bbox, h, w) for f in faces]


def _box(bbox: np.ndarray, height: int, width: int) -> Box:
    x0, y0, x1, y1 = bbox
    return (
        int(np.clip(round(x0), 0, width - 1)), int(np.clip(round(y0), 0, height - 1)),
        int(np.clip(round(x1), 1, width)), int(np.clip(round(y1), 1, height)),
    )


def landmark_box(face: FaceLandmarks, height: int, width: int) -> Box:
    """``face``'s box in whole pixels, inside a frame of ``height x width``."""
    return _box(face.bbox, height, width)


class ReferenceFace:
    """Picks the face of the person in ``image`` among a frame's faces.

    Args:
        image: ``(H, W, 3)`` uint8 RGB picture of the person (its largest face is used).
        backend: the landmark backend that finds the picture's face.
        describer: the face describer (None: dlib's :class:`FaceDescriber`).
        threshold: the largest embedding distance of the same person.

    ``signature`` names the choice for the landmark cache's key (the reference's embedding, hashed).
    """

    def __init__(self, image: np.ndarray, backend: LandmarkBackend, describer: FaceDescriber | None = None,
                 threshold: float = SAME_PERSON) -> None:
        self.describer = describer or FaceDescriber()
        self.threshold = threshold
        self.embedding = reference_embedding(image, lambda _: None, self.describer, lambda im: face_boxes(backend, im))
        digest = hashlib.sha1(np.ascontiguousarray(self.embedding, np.float32).tobytes()).hexdigest()[:16]
        self.signature = f"reference={digest}|{getattr(self.describer, 'name', type(self.describer).__name__)}|{threshold:g}"

    def __call__(self, frame: np.ndarray, faces: list[FaceLandmarks]) -> FaceLandmarks | None:
        """The face of ``faces`` (found in ``frame``, uint8 RGB) that is the reference's person, or None."""
        if not faces:
            return None
        h, w = frame.shape[:2]
        described = self.describer.describe_many(frame, [landmark_box(f, h, w) for f in faces])
        distances = distance_matrix(described, self.embedding[None])[:, 0]
        best = int(np.argmin(distances))
        return faces[best] if distances[best] < self.threshold else None
