"""Choosing the face of one person, given a picture of them, among the faces of a frame (face recognition).

What the Face Align node's ``reference`` input does: the aligner asks :class:`ReferenceFace` for its face
whenever it (re)acquires one (a shot start, a face lost), instead of taking the largest or the n-th from the
left; the face whose embedding (:class:`~.identity.FaceDescriber`) is nearest the reference's, if nearer than
:data:`~.identity.SAME_PERSON`, is followed; none is taken where the person is not in the frame.
"""
from __future__ import annotations

import hashlib

import numpy as np

from .identity import SAME_PERSON, BackendFaces, FaceDescriber, distance_matrix, face_box, reference_embedding
from .landmarks.base import FaceLandmarks, LandmarkBackend


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
        self.embedding = reference_embedding(image, lambda _: None, self.describer, BackendFaces(backend))
        digest = hashlib.sha1(np.ascontiguousarray(self.embedding, np.float32).tobytes()).hexdigest()[:16]
        self.signature = f"reference={digest}|{getattr(self.describer, 'name', type(self.describer).__name__)}|{threshold:g}"

    def __call__(self, frame: np.ndarray, faces: list[FaceLandmarks]) -> FaceLandmarks | None:
        """The face of ``faces`` (found in ``frame``, uint8 RGB) that is the reference's person, or None."""
        if not faces:
            return None
        h, w = frame.shape[:2]
        described = self.describer.describe_many(frame, [face_box(f, h, w) for f in faces])
        distances = distance_matrix(described, self.embedding[None])[:, 0]
        best = int(np.argmin(distances))
        return faces[best] if distances[best] < self.threshold else None
