"""Who a face is: dlib's ResNet face descriptor, speakers' references, and matching faces to speakers.

A face is described by dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``)
on a 150x150 chip aligned by dlib's 5-point shape predictor
(``shape_predictor_5_face_landmarks.dat``): a 128-number embedding in which two photographs
of the same person lie closer than :data:`SAME_PERSON` (Euclidean; dlib's own threshold,
99.38 % on the LFW benchmark). Both model files come with the PyPI package
``face-recognition-models`` (an sdist of data files only, which pip builds on any Python
without a compiler); they are opened by path (its ``__init__`` needs ``pkg_resources``,
gone from recent setuptools). Measured on real photographs: README, "Recognising speakers". Licences:
Davis King released both model files into the public domain (the dlib-models README; the
ResNet was trained on FaceScrub, the VGG face data set and faces he gathered, the 5-point
predictor on his own annotations of public images); the package is MIT. The 68-point
predictor that the package also holds is trained on iBUG 300-W, whose licence excludes
commercial use: it is not used here.

Faces are found by the job's landmark backend (:class:`BackendFaces`: every face of a
frame, numbered from the image's left), so the ``faces`` listing and a speaker's
``FRAME:INDEX`` count faces the same way.

A speaker's reference (:data:`Reference`) is an image of their face or a position in the
video (:class:`FacePosition`: frame number, face index from the left);
:func:`reference_embedding` turns it into an embedding, and :func:`match_speakers` gives
each face track of a shot (:mod:`.tracks`) the speaker it is, or ``None``.
"""
from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Union

import cv2
import numpy as np

from ..errors import BadInputError, MissingDependencyError
from .human_gate import _import_dlib
from .landmarks.base import FaceLandmarks, LandmarkBackend

Box = tuple[int, int, int, int]
"""``x0, y0, x1, y1`` of a face in frame pixels (x1, y1 excluded)."""

SAME_PERSON = 0.6
"""Largest descriptor distance between two faces of one person (dlib's threshold)."""

MODEL_PACKAGE = "face-recognition-models"
DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SHAPE_FILE = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR_SIZE = 128


def model_path(file_name: str) -> str:
    """Path of ``file_name`` in the installed ``face-recognition-models`` package (found without importing it)."""
    spec = importlib.util.find_spec("face_recognition_models")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = os.path.join(folder, "models", file_name)
        if os.path.isfile(path):
            return path
    raise MissingDependencyError(MODEL_PACKAGE, "Recognising speakers' faces", f"pip install {MODEL_PACKAGE}")


def _rgb(frame: np.ndarray) -> np.ndarray:
    """``frame`` as a contiguous ``(H, W, 3)`` uint8 array (grey repeated, alpha dropped)."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim not in (2, 3) or frame.size == 0:
        got = f"{frame.dtype} array of shape {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
        raise BadInputError(f"Face recognition needs an (H, W, 3) uint8 RGB image, got {got}; convert the image first.")
    if frame.ndim == 2:
        frame = frame[..., None]
    if frame.shape[2] == 1:
        frame = np.repeat(frame, 3, axis=2)
    return np.ascontiguousarray(frame[..., :3])


class FaceDescriber:
    """128-number embeddings of faces (dlib's ResNet on a 5-point aligned chip); models load on first use.

    Args:
        jitters: dlib's ``num_jitters``: describe this many randomly jittered copies of each
            chip and average (0 or 1: the chip once; higher is slower and a little steadier).
    """

    name = "dlib-resnet-v1+5pt"

    def __init__(self, jitters: int = 0) -> None:
        self.jitters = max(int(jitters), 0)
        self._shapes = None
        self._net = None

    def _load(self) -> None:
        if self._net is None:
            dlib = _import_dlib()
            self._shapes = dlib.shape_predictor(model_path(SHAPE_FILE))
            self._net = dlib.face_recognition_model_v1(model_path(DESCRIPTOR_FILE))

    def describe(self, frame: np.ndarray, box: Box) -> np.ndarray:
        """The ``[128]`` float32 embedding of the face in ``box`` of ``frame`` (``(H, W, 3)`` uint8 RGB)."""
        return self.describe_many(frame, [box])[0]

    def describe_many(self, frame: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        """``[N, 128]`` float32 embeddings of the faces in ``boxes`` of ``frame``, in their order."""
        if not boxes:
            return np.zeros((0, DESCRIPTOR_SIZE), dtype=np.float32)
        self._load()
        dlib = _import_dlib()
        image = _rgb(frame)
        shapes = dlib.full_object_detections()
        for x0, y0, x1, y1 in boxes:
            shapes.append(self._shapes(image, dlib.rectangle(int(x0), int(y0), int(x1), int(y1))))
        return np.asarray(self._net.compute_face_descriptor(image, shapes, self.jitters), dtype=np.float32)


def face_box(face: FaceLandmarks, height: int, width: int) -> Box:
    """A located face's box in whole pixels, inside a ``height`` x ``width`` frame."""
    x0, y0, x1, y1 = face.bbox
    return (
        int(np.clip(round(x0), 0, width - 1)), int(np.clip(round(y0), 0, height - 1)),
        int(np.clip(round(x1), 1, width)), int(np.clip(round(y1), 1, height)),
    )


def left_to_right(faces: Sequence[FaceLandmarks]) -> list[FaceLandmarks]:
    """``faces`` with usable anchors, ordered by the centre of their box from the image's left: index 0 is the leftmost."""
    usable = [f for f in faces if np.all(np.isfinite(f.anchors))]
    return sorted(usable, key=lambda f: (f.bbox[0] + f.bbox[2]) / 2)


class BackendFaces:
    """Every face of a frame by a landmark backend, as boxes from left to right: what ``FRAME:INDEX`` counts.

    The ``faces`` listing, speakers' position references and the speakers' face tracks all
    number faces this way, so an index read off the listing names the same face in the job.
    """

    def __init__(self, backend: LandmarkBackend) -> None:
        self.backend = backend

    def __call__(self, frame: np.ndarray) -> list[Box]:
        """Boxes of the faces in ``frame`` (``(H, W, 3)`` uint8 RGB), leftmost first."""
        image = _rgb(frame)
        height, width = image.shape[:2]
        return [face_box(f, height, width) for f in left_to_right(self.backend.detect(image))]


FaceBoxes = Callable[[np.ndarray], list[Box]]
"""Finds the faces of a frame, sorted left to right (e.g. a :class:`BackendFaces`)."""


def identity_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two face embeddings (under :data:`SAME_PERSON`: one person)."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


def distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``[N, M]`` Euclidean distances between embeddings ``a`` ``[N, 128]`` and ``b`` ``[M, 128]``."""
    a, b = np.asarray(a, dtype=np.float64).reshape(-1, DESCRIPTOR_SIZE), np.asarray(b, dtype=np.float64).reshape(-1, DESCRIPTOR_SIZE)
    return np.sqrt(np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0.0))


@dataclass(frozen=True)
class FacePosition:
    """A face by its place in the video: frame number (from 0) and index from the left (from 0)."""

    frame: int
    index: int

    def __str__(self) -> str:
        return f"{self.frame}:{self.index}"


Reference = Union[np.ndarray, FacePosition]
"""A speaker's face: an image of it (``(H, W, 3)`` uint8 RGB) or a :class:`FacePosition`."""

_POSITION = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


def parse_reference(text: str) -> Reference:
    """``FRAME:INDEX`` (two integers with a colon) as a :class:`FacePosition`, anything else as an image path."""
    if match := _POSITION.match(text):
        return FacePosition(int(match.group(1)), int(match.group(2)))
    image = cv2.imread(text, cv2.IMREAD_COLOR) if os.path.isfile(text) else None
    if image is None:
        raise BadInputError(
            f"Speaker face '{text}' is neither an image file nor FRAME:INDEX; give a picture of the face (png, jpg) "
            "or a frame number and a face index from the left, e.g. 120:0 (see python -m latentsync_core faces VIDEO)."
        )
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def reference_embedding(
    reference: Reference, frame_at: Callable[[int], np.ndarray | None], describer: FaceDescriber, detector: FaceBoxes
) -> np.ndarray:
    """The ``[128]`` embedding of a speaker's reference face.

    An image gives its largest face; a position gives face ``index`` (from the left) of
    frame ``frame``, which ``frame_at`` returns (``None`` past the video's end).

    Raises:
        BadInputError: the image holds no face, the frame does not exist, or it holds fewer faces.
    """
    if isinstance(reference, FacePosition):
        frame = frame_at(reference.frame)
        if frame is None:
            raise BadInputError(f"Speaker face {reference}: the video has no frame {reference.frame}; give a frame number inside the video.")
        boxes = detector(frame)
        if reference.index >= len(boxes):
            raise BadInputError(
                f"Speaker face {reference}: frame {reference.frame} shows {len(boxes)} face(s), so there is no face {reference.index} "
                "(counted from 0, from the left); list the faces with python -m latentsync_core faces VIDEO."
            )
        return describer.describe(frame, boxes[reference.index])
    boxes = detector(reference)
    if not boxes:
        raise BadInputError(
            "A speaker's reference image shows no face the recogniser can find; give a sharper, larger, frontal picture "
            "of the face, or a FRAME:INDEX position in the video."
        )
    return describer.describe(reference, max(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1])))


def match_speakers(
    track_embeddings: np.ndarray,
    speaker_embeddings: np.ndarray,
    threshold: float = SAME_PERSON,
    concurrent: np.ndarray | None = None,
) -> list[int | None]:
    """The speaker of each face track of one shot: an index into ``speaker_embeddings``, or ``None``.

    Pairs are taken closest first (greedy by distance), each under ``threshold``; a speaker
    is never given to two tracks seen at the same time (``concurrent[i, j]``, ``[T, T]`` bool;
    ``None``: all tracks are seen together, so each speaker gets at most one track), and a
    track gets at most one speaker. Tracks that match no speaker are unknown faces (``None``).
    """
    tracks = np.asarray(track_embeddings, dtype=np.float64).reshape(-1, DESCRIPTOR_SIZE)
    count = len(tracks)
    together = np.ones((count, count), dtype=bool) if concurrent is None else np.asarray(concurrent, dtype=bool)
    distances = distance_matrix(tracks, speaker_embeddings)
    assignment: list[int | None] = [None] * count
    for flat in np.argsort(distances, axis=None, kind="stable"):
        track, speaker = divmod(int(flat), distances.shape[1])
        if distances[track, speaker] >= threshold:
            break
        if assignment[track] is not None:
            continue
        if any(assignment[other] == speaker and together[track, other] for other in range(count)):
            continue
        assignment[track] = speaker
    return assignment


def unmatched_speakers(assignments: Sequence[Sequence[int | None]], speakers: int) -> list[int]:
    """The speakers (indices) that no track of any shot was matched to (their reference matched no face)."""
    found = {s for shot in assignments for s in shot if s is not None}
    return [s for s in range(speakers) if s not in found]
