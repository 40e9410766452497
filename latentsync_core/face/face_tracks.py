"""Every face of every frame, linked into tracks within shots, and one :class:`Alignment` per speaker.

The one-speaker :class:`~.aligner.FaceAligner` keeps one face per frame. A several-speaker job
needs them all: :class:`FaceTracker` detects every face in every frame (no following, no
landmark cache), links a face to the track of the previous frames whose box it overlaps most
(IoU at least 0.2, within ``max_gap`` frames, never across a shot cut) and keeps, per face, only
what the paste needs (box, the three template anchors, the outer lip), a few hundred bytes. A
``describe`` step (a face-embedding model: ``describe(frame, boxes) -> [k, D]``) is asked once
per track, on its first frame, so recognition costs one descriptor per track and shot, not per
frame. :func:`speaker_alignment` then fits the LatentSync template to the faces of the tracks a
speaker was given, as the aligner fits its one face (nose-offset smoothing, dropouts bridged).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .aligner import _box_iou, _CUT_THRESHOLD, _thumbnail, _TRACK_MIN_IOU, bridge_gaps
from .alignment import Alignment
from .frames import MIN_FACE_FRAME_SIDE, as_rgb_frames, to_uint8
from .geometry import REFERENCE_SMOOTHING, crop_size, face_template, fit_similarity
from .landmarks.base import FaceLandmarks, LandmarkBackend

Describe = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``describe(frame (H, W, 3) uint8 RGB, boxes (k, 4) xyxy) -> (k, D)`` float face descriptors."""


@dataclass
class FaceTrack:
    """One person's face followed through consecutive frames of one shot.

    Attributes:
        id: the track's number (its index in :attr:`FaceTracker.tracks`).
        shot: the shot it is in (0 = the first).
        first, last: its first and last frame.
        descriptor: ``(D,)`` from the ``describe`` step on its first frame, or None.
    """

    id: int
    shot: int
    first: int
    last: int
    box: np.ndarray
    descriptor: np.ndarray | None = None


@dataclass
class _Faces:
    """The faces kept so far, one row each (lists of arrays, concatenated on demand)."""

    frame: list[int] = field(default_factory=list)
    track: list[int] = field(default_factory=list)
    box: list[np.ndarray] = field(default_factory=list)
    anchors: list[np.ndarray] = field(default_factory=list)
    mouth: list[np.ndarray] = field(default_factory=list)


class FaceTracker:
    """Detects every face of every frame, window by window, and links them into :class:`FaceTrack` s.

    Args:
        backend: the landmark backend (its :meth:`detect` returns every face of a frame).
        max_gap: frames a track may miss and still continue (the aligner's ``max_gap``).
        describe: the face-embedding step asked once per track (None: no descriptors).
        positions: ``(frame, index from the left)`` faces whose track is wanted by position
            (:meth:`track_at`).

    After every frame has been :meth:`add` ed: ``tracks``, ``cut_before`` (``(N,)`` bool), the
    faces per frame (:meth:`faces_of_tracks`).
    """

    def __init__(
        self, backend: LandmarkBackend, max_gap: int = 4, describe: Describe | None = None,
        positions: tuple[tuple[int, int], ...] = (),
    ) -> None:
        self.backend = backend
        self.max_gap = max(0, int(max_gap))
        self.describe = describe
        self.tracks: list[FaceTrack] = []
        self._faces = _Faces()
        self._cuts: list[bool] = []
        self._prev_thumb: np.ndarray | None = None
        self._shot = -1
        self._size: tuple[int, int] | None = None
        self._wanted = {frame: index for frame, index in positions}
        self._at: dict[tuple[int, int], int] = {}
        self._found: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._cuts)

    @property
    def cut_before(self) -> np.ndarray:
        return np.asarray(self._cuts, dtype=bool)

    @property
    def source_size(self) -> tuple[int, int]:
        return self._size or (0, 0)

    def add(self, frames: torch.Tensor, on_frame: Callable[[int], None] | None = None) -> None:
        """Detect and link the faces of the next ``[n, H, W, C]`` float 0..1 frames."""
        frames = as_rgb_frames(frames)
        self._size = (int(frames.shape[1]), int(frames.shape[2]))
        searchable = min(self._size) >= MIN_FACE_FRAME_SIDE
        for i in range(frames.shape[0]):
            index = len(self._cuts)
            thumb = _thumbnail(frames[i])
            cut = self._prev_thumb is not None and float(np.abs(thumb - self._prev_thumb).mean()) > _CUT_THRESHOLD
            self._prev_thumb = thumb
            self._cuts.append(cut)
            if cut or self._shot < 0:
                self._shot += 1
            if searchable:
                frame = to_uint8(frames[i])
                self._link(index, frame, [f for f in self.backend.detect(frame) if np.all(np.isfinite(f.anchors))])
            if on_frame is not None:
                on_frame(i)

    def _link(self, index: int, frame: np.ndarray, faces: list[FaceLandmarks]) -> None:
        live = [t for t in self.tracks if t.shot == self._shot and index - t.last <= self.max_gap + 1]
        pairs = sorted(
            ((_box_iou(f.bbox, t.box), k, t) for k, f in enumerate(faces) for t in live), key=lambda p: -p[0]
        )
        owner: dict[int, FaceTrack] = {}
        taken: set[int] = set()
        for iou, k, track in pairs:  # greedy: the best overlaps first, one face per track
            if iou >= _TRACK_MIN_IOU and k not in owner and track.id not in taken:
                owner[k] = track
                taken.add(track.id)
        new = [k for k in range(len(faces)) if k not in owner]
        for k in new:
            owner[k] = FaceTrack(len(self.tracks), self._shot, index, index, faces[k].bbox)
            self.tracks.append(owner[k])
        if self.describe is not None and new:
            descriptors = self.describe(frame, np.stack([faces[k].bbox for k in new]))
            for k, d in zip(new, descriptors):
                owner[k].descriptor = np.asarray(d, dtype=np.float32)
        for k, face in enumerate(faces):
            track = owner[k]
            track.last, track.box = index, face.bbox
            self._faces.frame.append(index)
            self._faces.track.append(track.id)
            self._faces.box.append(np.asarray(face.bbox, np.float32))
            self._faces.anchors.append(np.asarray(face.anchors, np.float64))
            self._faces.mouth.append(np.asarray(face.mouth, np.float64))
        if index in self._wanted:
            ordered = sorted(range(len(faces)), key=lambda k: (faces[k].bbox[0] + faces[k].bbox[2]) / 2)
            self._found[index] = len(faces)
            want = self._wanted[index]
            if want < len(ordered):
                self._at[(index, want)] = owner[ordered[want]].id

    def faces_found(self, frame: int) -> int | None:
        """Faces found in a frame asked for by position (None: not asked for, or not reached)."""
        return self._found.get(frame)

    def track_at(self, frame: int, index: int) -> int | None:
        """The track of the ``index``-th face from the left in ``frame`` (a position asked for), or None."""
        return self._at.get((frame, index))

    def alignment(
        self, tracks: set[int], resolution: int, smoothing: float = REFERENCE_SMOOTHING, backend: str = "",
    ) -> Alignment:
        """The alignment of every frame to the faces of ``tracks`` (one speaker's), for the paste.

        Where several of those tracks have a face in a frame the largest is taken. The template is
        fitted as the aligner fits it (the nose offset smoothed along a track; a new shot or a new
        track starts afresh); dropouts of at most ``max_gap`` frames inside a shot are bridged.
        Landmarks are not kept (``K`` = 0, as :meth:`Alignment.for_paste`).
        """
        n = len(self)
        chosen = np.full(n, -1, dtype=np.int64)
        if tracks and self._faces.frame:
            frame = np.asarray(self._faces.frame)
            track = np.asarray(self._faces.track)
            box = np.stack(self._faces.box)
            area = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
            for row in np.flatnonzero(np.isin(track, list(tracks))):
                f = frame[row]
                if chosen[f] < 0 or area[row] > area[chosen[f]]:
                    chosen[f] = row
        template = face_template(resolution)
        affines = np.zeros((n, 2, 3))
        affines[:, 0, 0] = affines[:, 1, 1] = 1.0
        has_face = np.zeros(n, dtype=bool)
        k = max((m.shape[0] for m in self._faces.mouth), default=0)
        mouth = np.full((n, k, 2), np.nan)
        cuts = self.cut_before
        offset, previous = None, (-1, -10**9)
        for f in np.flatnonzero(chosen >= 0):
            row = chosen[f]
            track = self._faces.track[row]
            if previous[0] != track or f - previous[1] > self.max_gap + 1 or cuts[previous[1] + 1 : f + 1].any():
                offset = None
            fit = fit_similarity(self._faces.anchors[row], template, offset, smoothing)
            if fit is None:
                continue
            offset, previous = fit.nose_offset, (track, f)
            affines[f], has_face[f] = fit.matrix, True
            if self._faces.mouth[row].shape[0] == k:
                mouth[f] = self._faces.mouth[row]
        located = Alignment(
            resolution=resolution, crop_size=crop_size(resolution), source_size=self.source_size, affines=affines,
            has_face=has_face, interpolated=np.zeros(n, dtype=bool), landmarks=np.zeros((n, 0, 2), np.float32),
            mouth=mouth, backend=backend, cut_before=cuts,
        )
        return bridge_gaps(located, self.max_gap)
