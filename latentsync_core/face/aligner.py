"""FaceAligner: landmarks -> per-frame template transforms -> aligned faces.

Per frame: find faces, keep following one person (by box overlap within a
shot; on a new shot re-acquire by the selection rule), fit the LatentSync
similarity to the three anchors with the reference's nose-offset smoothing,
warp the template crop and resize it. Frames where no face is kept are
flagged and later pass through untouched; a dropout of at most ``max_gap``
frames inside one shot is bridged by interpolating its neighbours'
transforms. A shot cut (:mod:`.shots`) is a large change between 16x16 thumbnails of
consecutive frames; it resets tracking and smoothing.

Detection runs only to (re)acquire a face: at a shot start, after a frame
without a face, or when following fails. While a face is followed and the
backend can follow (:class:`~.landmarks.base.FollowingBackend`), the next frame
is meshed on a crop around the previous frame's face instead, which skips the
whole-frame detector; the backend's face gate makes a cutaway or a face-free
frame a miss, and a miss falls back to detection on that frame.

With a :class:`~.landmark_cache.LandmarkCache` the faces kept per call are
stored on disk and a later run over the same frames with the same backend
and selection settings replays them instead of detecting again.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from .alignment import Alignment
from ..errors import BadInputError
from .frames import MIN_FACE_FRAME_SIDE, as_rgb_frames, to_uint8
from .geometry import REFERENCE_SMOOTHING, SUPPORTED_RESOLUTIONS, box_iou, crop_size, face_template, fit_similarity
from .human_gate import HumanFaceGate, TrackGate
from .landmark_cache import FrameHasher, LandmarkCache, TrackRecord, backend_signature
from .landmarks.base import FaceLandmarks, LandmarkBackend
from .shots import CutDetector
from .warp import aligned_faces, warp_to_crop

if TYPE_CHECKING:
    from .reference_face import ReferenceFace

SELECTION_MODES = ("largest", "index", "follow_first")
TRACK_MIN_IOU = 0.2
"""The least box overlap (:func:`~.geometry.box_iou`) of a face with the one it continues in the frame before."""
_IDENTITY_MIN_SIMILARITY = 0.6


def _box_area(face: FaceLandmarks) -> float:
    return float((face.bbox[2] - face.bbox[0]) * (face.bbox[3] - face.bbox[1]))


def _identity(frame: np.ndarray, face: FaceLandmarks, resolution: int) -> np.ndarray | None:
    """Appearance descriptor of a face: its template crop at 12x16 RGB, normalised."""
    fit = fit_similarity(face.anchors, face_template(resolution))
    if fit is None:
        return None
    crop = warp_to_crop(frame, fit.matrix, crop_size(resolution))
    small = cv2.resize(crop, (12, 16), interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    small -= small.mean()
    norm = np.linalg.norm(small)
    return small / norm if norm > 0 else None


class FaceAligner:
    """Aligns frames to the LatentSync face template; state carries across calls.

    Args:
        backend: landmark backend (:mod:`latentsync_core.landmarks`).
        resolution: 256 (LatentSync 1.5) or 512 (1.6).
        selection: ``"largest"``: on each new shot take the largest face;
            ``"index"``: the ``face_index``-th face from the left;
            ``"follow_first"``: the face chosen (largest) in the first frame,
            found again after cuts by appearance.
        face_index: index for ``selection="index"``, 0 = leftmost.
        smoothing: weight of the previous frame in the nose-offset moving
            average (reference: 0.2).
        max_gap: longest detection dropout (frames) bridged by interpolation.
        cache: landmark cache to replay from and store into; ``None`` detects every time.
        follow: mesh a followed face on a crop around its previous position (when
            the backend can) instead of detecting in every frame.
        human_gate: keep only faces this gate calls human (asked once per face track,
            see :class:`~.human_gate.TrackGate`); ``None`` keeps every face found.
        reference: choose the face of this person (face recognition) wherever a face is
            (re)acquired, instead of by ``selection``; ``None``: by ``selection``.
    """

    def __init__(
        self,
        backend: LandmarkBackend,
        resolution: int = 256,
        selection: str = "largest",
        face_index: int = 0,
        smoothing: float = REFERENCE_SMOOTHING,
        max_gap: int = 4,
        cache: LandmarkCache | None = None,
        follow: bool = True,
        human_gate: HumanFaceGate | None = None,
        reference: ReferenceFace | None = None,
    ) -> None:
        if resolution not in SUPPORTED_RESOLUTIONS:
            raise BadInputError(f"resolution must be one of {SUPPORTED_RESOLUTIONS} (256 = LatentSync 1.5, 512 = 1.6), got {resolution}.")
        if selection not in SELECTION_MODES:
            raise BadInputError(f"face selection must be one of {SELECTION_MODES}, got '{selection}'.")
        if not 0.0 <= smoothing < 1.0:
            raise BadInputError(f"smoothing must be in [0, 1), got {smoothing}.")
        self.backend = backend
        self.resolution = resolution
        self.selection = selection
        self.face_index = face_index
        self.smoothing = smoothing
        self.max_gap = max(0, int(max_gap))
        self._template = face_template(resolution)
        self._crop_size = crop_size(resolution)
        self._follow = getattr(backend, "follow", None) if follow else None
        self._followed: FaceLandmarks | None = None
        self._track_box: np.ndarray | None = None
        self._track_frame = -1
        self._nose_offset: np.ndarray | None = None
        self._identity: np.ndarray | None = None
        self._cuts = CutDetector()
        self._frame_counter = 0
        self.cache = cache
        settings = f"{backend_signature(backend)}|{resolution}|{selection}|{face_index}|{self.max_gap}|{self._follow is not None}"
        # Human-face gate (issue 15): its verdicts are remembered per face track.
        self.human_gate = human_gate
        self._gate = TrackGate(human_gate, box_iou, TRACK_MIN_IOU, self.max_gap) if human_gate is not None else None
        if self._gate is not None:
            settings += f"|human_gate={human_gate.signature}"
        self.reference = reference
        if reference is not None:
            settings += f"|{reference.signature}"
        self._hasher = FrameHasher(settings) if cache is not None else None

    def _new_shot(self) -> None:
        self._track_box = None
        self._followed = None
        self._nose_offset = None

    def _acquire(self, faces: list[FaceLandmarks], frame: np.ndarray) -> FaceLandmarks | None:
        if self.reference is not None:
            return self.reference(frame, faces)
        if self.selection == "index":
            ordered = sorted(faces, key=lambda f: (f.bbox[0] + f.bbox[2]) / 2)
            return ordered[self.face_index] if self.face_index < len(ordered) else None
        if self.selection == "follow_first" and self._identity is not None:
            scored = [(float(d @ self._identity), f) for f in faces if (d := _identity(frame, f, self.resolution)) is not None]
            if not scored:
                return None
            score, face = max(scored, key=lambda s: s[0])
            return face if score >= _IDENTITY_MIN_SIMILARITY else None
        face = max(faces, key=_box_area)
        if self.selection == "follow_first":
            self._identity = _identity(frame, face, self.resolution)
        return face

    def _choose(self, faces: list[FaceLandmarks], frame: np.ndarray) -> FaceLandmarks | None:
        if not faces:
            return None
        if self._track_box is not None:
            best = max(faces, key=lambda f: box_iou(f.bbox, self._track_box))
            return best if box_iou(best.bbox, self._track_box) >= TRACK_MIN_IOU else None
        return self._acquire(faces, frame)

    def _follow_face(self, frame: torch.Tensor, index: int) -> FaceLandmarks | None:
        """The followed face found again near its place in the previous frame, or ``None``."""
        if self._follow is None or self._followed is None or self._track_frame != index - 1:
            return None
        face = self._follow(frame, self._followed)
        return face if face is not None and box_iou(face.bbox, self._track_box) >= TRACK_MIN_IOU else None

    def _face_of(self, frames: torch.Tensor, i: int, index: int, record: TrackRecord, searchable: bool) -> FaceLandmarks | None:
        """Follow, or detect and choose, the face of frame ``i`` (``index`` in the video), filling ``record``."""
        record.cut_before[i] = self._cuts.is_cut(frames[i])
        if record.cut_before[i]:
            self._new_shot()
            if self._gate is not None:
                self._gate.reset()
        if not searchable:
            return None
        face = self._follow_face(frames[i], index)
        if face is not None and not self._is_human(frames[i], face, index):
            face = None
        if face is None:
            frame = to_uint8(frames[i])
            face = self._choose([f for f in self.backend.detect(frame) if self._is_human(frame, f, index)], frame)
        record.faces[i] = face
        return face

    def _is_human(self, frame: np.ndarray | torch.Tensor, face: FaceLandmarks, index: int) -> bool:
        """The human-face gate's verdict on ``face`` (its track's, when known); every face passes without a gate."""
        return self._gate is None or self._gate.human(frame, face, index)

    def _store(self, key: str, record: TrackRecord) -> None:
        record.identity, record.last_thumb = self._identity, self._cuts.previous
        try:
            self.cache.save(key, record)
        except OSError as exc:
            warnings.warn(f"Landmark cache not written ({exc}); detection runs again next time.", stacklevel=3)

    def align(self, frames: torch.Tensor, on_frame: Callable[[int], None] | None = None) -> tuple[torch.Tensor, Alignment]:
        """Align a batch of frames, continuing from the previous call's state.

        Args:
            frames: ``[N, H, W, C]`` float 0..1 (C = 1, 3 or 4).
            on_frame: called with the frame index after each detection
                (progress reporting; may raise to interrupt).

        Returns:
            ``aligned``: ``[N, res, res, 3]`` float32 0..1 (uint8-valued;
            no-face frames are filled with 127/255), and the :class:`Alignment`.
        """
        frames = as_rgb_frames(frames)
        alignment = self.locate(frames, on_frame)
        return aligned_faces(frames, alignment.affines, alignment.has_face, self._crop_size, self.resolution), alignment

    def locate(self, frames: torch.Tensor, on_frame: Callable[[int], None] | None = None) -> Alignment:
        """The :class:`Alignment` of a batch (landmarks and transforms, no crops), as :meth:`align` makes it."""
        frames = as_rgb_frames(frames)
        n, h, w, _ = frames.shape
        key = self._hasher.update(frames) if self._hasher is not None else None
        cached = self.cache.load(key, n) if key is not None else None
        record = cached or TrackRecord([None] * n, np.zeros(n, dtype=bool), None, None)
        searchable = min(h, w) >= MIN_FACE_FRAME_SIDE
        affines = np.zeros((n, 2, 3))
        affines[:, 0, 0] = affines[:, 1, 1] = 1.0
        has_face = np.zeros(n, dtype=bool)
        faces_kept: list[FaceLandmarks | None] = [None] * n
        for i in range(n):
            index = self._frame_counter + i
            if self._track_box is not None and index - self._track_frame > self.max_gap + 1:
                self._new_shot()
            if cached is None:
                face = self._face_of(frames, i, index, record, searchable)
            else:
                if record.cut_before[i]:
                    self._new_shot()
                face = record.faces[i]
            if on_frame is not None:
                on_frame(i)
            if face is None:
                continue
            fit = fit_similarity(face.anchors, self._template, self._nose_offset, self.smoothing)
            if fit is None:
                continue
            self._followed, self._track_box, self._track_frame, self._nose_offset = face, face.bbox, index, fit.nose_offset
            affines[i], has_face[i], faces_kept[i] = fit.matrix, True, face
        self._frame_counter += n
        if cached is not None:
            self._identity, self._cuts.previous = cached.identity, cached.last_thumb
        elif key is not None:
            self._store(key, record)

        # float32, as the landmark cache stores them: a replay gives the same landmarks as a detection
        landmarks = _stack_points([f.points if f else None for f in faces_kept], np.float32)
        mouth = _stack_points([f.mouth if f else None for f in faces_kept])
        interpolated = _bridge_gaps(has_face, record.cut_before, self.max_gap, (affines, landmarks, mouth))
        has_face |= interpolated
        return Alignment(
            resolution=self.resolution,
            crop_size=self._crop_size,
            source_size=(h, w),
            affines=affines,
            has_face=has_face,
            interpolated=interpolated,
            landmarks=landmarks,
            mouth=mouth,
            backend=getattr(self.backend, "name", type(self.backend).__name__),
            cut_before=record.cut_before.copy(),
        )


def _stack_points(per_frame: list[np.ndarray | None], dtype: type = np.float64) -> np.ndarray:
    """Stack per-frame ``(K, 2)`` point sets into ``(N, K, 2)`` of ``dtype``, NaN where missing."""
    k = next((p.shape[0] for p in per_frame if p is not None), 0)
    out = np.full((len(per_frame), k, 2), np.nan, dtype=dtype)
    for i, p in enumerate(per_frame):
        if p is not None and p.shape[0] == k:
            out[i] = p
    return out


def bridge_gaps(alignment: Alignment, max_gap: int) -> Alignment:
    """Bridge the dropouts of an alignment made in several :meth:`FaceAligner.locate` calls.

    Each call bridges only the dropouts inside its own frames; this bridges the
    concatenated windows (:meth:`Alignment.concatenate`) as one call over all of
    them would, including dropouts across window edges. Dropouts a call already
    bridged come out the same (same neighbours, same interpolation).

    Args:
        alignment: ``N`` rows of consecutive frames with ``cut_before`` (not a selection).
        max_gap: the aligner's ``max_gap``.

    Returns:
        A new alignment; ``has_face`` and ``interpolated`` include the newly bridged frames.
    """
    if alignment.cut_before is None or alignment.source_index is not None:
        raise BadInputError("Dropouts can only be bridged in an aligner's own alignment of consecutive frames.")
    detected = alignment.has_face & ~alignment.interpolated
    affines, landmarks, mouth = alignment.affines.copy(), alignment.landmarks.copy(), alignment.mouth.copy()
    interpolated = _bridge_gaps(detected, alignment.cut_before, max_gap, (affines, landmarks, mouth))
    return replace(
        alignment, affines=affines, landmarks=landmarks, mouth=mouth, has_face=detected | interpolated,
        interpolated=interpolated,
    )


def _bridge_gaps(has_face: np.ndarray, cut_before: np.ndarray, max_gap: int, arrays: tuple[np.ndarray, ...]) -> np.ndarray:
    """Interpolate short no-face runs between two face frames of the same shot.

    Fills ``arrays`` (each ``(N, ...)``) in place, linearly in time; returns
    the ``(N,)`` mask of bridged frames.
    """
    bridged = np.zeros_like(has_face)
    face_idx = np.flatnonzero(has_face)
    for a, b in zip(face_idx[:-1], face_idx[1:]):
        gap = b - a - 1
        if gap == 0 or gap > max_gap or cut_before[a + 1 : b + 1].any():
            continue
        for k in range(a + 1, b):
            t = (k - a) / (b - a)
            for arr in arrays:
                arr[k] = (1.0 - t) * arr[a] + t * arr[b]
            bridged[k] = True
    return bridged
