"""Every face of every frame in tracks within shots, and one :class:`Alignment` per speaker from them.

The one-speaker :class:`~.aligner.FaceAligner` keeps one face per frame. A several-speaker job
needs them all: :class:`FaceTracker` detects every face of every frame with the landmark backend
(no following, no landmark cache), finds the shots (:class:`~.shots.CutDetector`), links the faces
into tracks and has each track described on a few of its frames (:class:`~.tracks.TrackBuilder`:
recognition costs a few descriptors per track and shot, not one per frame). Per face it keeps only
what the paste needs (box, the three template anchors, the outer lip): a few hundred bytes.
:meth:`FaceTracker.alignment` then fits the LatentSync template to the faces of the tracks one
speaker was given, as the aligner fits its one face (nose-offset smoothing along a track, dropouts
of at most ``max_gap`` frames inside a shot bridged).

Which tracks are whose: :func:`speaker_tracker` makes the tracker for a list of speakers' references
and :func:`assign_speakers` gives each track the speaker it is (a position reference names its track,
:class:`Recognition` matches the rest shot by shot); :func:`speaker_boxes` then gives each speaker's
face box per frame. The several-speaker job and the per-speaker quality report both find faces so.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import BadInputError
from .aligner import TRACK_MIN_IOU, bridge_gaps
from .geometry import box_iou
from .alignment import Alignment
from .frames import MIN_FACE_FRAME_SIDE, as_rgb_frames, to_uint8
from .geometry import REFERENCE_SMOOTHING, crop_size, face_template, fit_similarity
from .human_gate import HumanFaceGate, TrackGate
from .identity import BackendFaces, Box, FaceDescriber, FacePosition, Reference, face_box, left_to_right, reference_embedding
from .landmarks.base import LandmarkBackend
from .shots import CutDetector
from .tracks import FaceTrack, TrackBuilder, shot_speakers


@dataclass(frozen=True)
class Recognition:
    """The identify step: a face describer, and the matching of one shot's face tracks to the speakers.

    Attributes:
        describer: describes faces (``describe_many(frame, boxes) -> [k, D]``), e.g. :class:`FaceDescriber`.
        match: ``(tracks of one shot, speaker embeddings [S, D]) -> [speaker index or None]`` per track.
    """

    describer: FaceDescriber
    match: Callable[[list[FaceTrack], np.ndarray], Sequence[int | None]] = shot_speakers


class _Undescribed:
    """The describer of a tracker without recognition: tracks get empty descriptors."""

    def describe_many(self, frame: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        return np.zeros((len(boxes), 0), dtype=np.float32)


class FaceTracker:
    """Detects every face of every frame, window by window, and links them into face tracks.

    Args:
        backend: the landmark backend (its ``detect`` returns every face of a frame).
        max_gap: frames a track may miss and still continue (the aligner's ``max_gap``).
        describer: describes each track on a few of its frames (None: tracks are not described).
        positions: ``(frame, index from the left)`` of faces whose track is wanted (:meth:`track_at`).
        human_gate: keep only the faces this gate calls human, asked once per face track as the aligner
            asks it (:class:`~.human_gate.TrackGate`); None: every face found.

    After every frame is :meth:`add` ed and :meth:`finish` ed: ``tracks`` (:class:`FaceTrack` s,
    ``track_id`` their index), ``cut_before``.
    """

    def __init__(
        self, backend: LandmarkBackend, max_gap: int = 4, describer: FaceDescriber | None = None,
        positions: Sequence[tuple[int, int]] = (), human_gate: HumanFaceGate | None = None,
    ) -> None:
        self.backend = backend
        self.max_gap = max(0, int(max_gap))
        self.described = describer is not None
        self._builder = TrackBuilder(describer or _Undescribed(), max_gap=self.max_gap)
        self._cuts = CutDetector()
        self._gate = TrackGate(human_gate, box_iou, TRACK_MIN_IOU, self.max_gap) if human_gate is not None else None
        self.tracks: list[FaceTrack] = []
        self.cut_before = np.zeros(0, dtype=bool)
        self._cut_list: list[bool] = []
        self._size: tuple[int, int] = (0, 0)
        self._wanted = {frame for frame, _ in positions}
        self._positions: dict[int, list[Box]] = {}  # frame asked for -> its faces' boxes, left to right
        self._frame: list[int] = []
        self._box: list[Box] = []
        self._anchors: list[np.ndarray] = []
        self._mouth: list[np.ndarray] = []
        self._track: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self._cut_list)

    def add(self, frames: torch.Tensor) -> None:
        """Detect and link the faces of the next ``[n, H, W, C]`` float 0..1 frames."""
        frames = as_rgb_frames(frames)
        h, w = self._size = (int(frames.shape[1]), int(frames.shape[2]))
        searchable = min(h, w) >= MIN_FACE_FRAME_SIDE
        for i in range(frames.shape[0]):
            index = len(self._cut_list)
            cut = self._cuts.is_cut(frames[i])
            self._cut_list.append(cut)
            if cut and self._gate is not None:
                self._gate.reset()
            frame = to_uint8(frames[i])
            faces = left_to_right(self.backend.detect(frame)) if searchable else []
            if self._gate is not None:
                faces = [f for f in faces if self._gate.human(frame, f, index)]
            boxes = [face_box(f, h, w) for f in faces]
            self.tracks += self._builder.add(index, frame, boxes, cut)
            for face, box in zip(faces, boxes):
                self._frame.append(index)
                self._box.append(box)
                self._anchors.append(np.asarray(face.anchors, np.float64))
                self._mouth.append(np.asarray(face.mouth, np.float64))
            if index in self._wanted:
                self._positions[index] = boxes

    def finish(self) -> None:
        """Close the open tracks and give every face kept its track (call once, after the last :meth:`add`)."""
        self.tracks += self._builder.close()
        self.cut_before = np.asarray(self._cut_list, dtype=bool)
        owner = {(f, b): t for t, track in enumerate(self.tracks) for f, b in zip(track.frames, track.boxes)}
        self._track = np.array([owner[(f, b)] for f, b in zip(self._frame, self._box)], dtype=np.int64)

    def faces_found(self, frame: int) -> int | None:
        """Faces found in a frame asked for by position (None: the video has no such frame)."""
        found = self._positions.get(frame)
        return None if found is None else len(found)

    def track_at(self, frame: int, index: int) -> int | None:
        """The track (index into ``tracks``) of the ``index``-th face from the left of ``frame``, asked for by position."""
        found = self._positions.get(frame, [])
        if index >= len(found):
            return None
        box = found[index]
        return next(t for t, track in enumerate(self.tracks) if track.box_at(frame) == box)

    def _chosen(self, tracks: set[int]) -> np.ndarray:
        """``(N,)`` the face (row) of ``tracks`` taken in each frame, the largest where several; -1 where none."""
        chosen = np.full(len(self), -1, dtype=np.int64)
        if tracks and self._frame:
            boxes = np.asarray(self._box, dtype=np.float64)
            area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            for row in np.flatnonzero(np.isin(self._track, list(tracks))):
                f = self._frame[row]
                if chosen[f] < 0 or area[row] > area[chosen[f]]:
                    chosen[f] = row
        return chosen

    def boxes(self, tracks: set[int]) -> np.ndarray:
        """``(N, 4)`` float box of the face of ``tracks`` in each frame (as :meth:`alignment` takes it), NaN where none."""
        chosen = self._chosen(tracks)
        out = np.full((len(self), 4), np.nan)
        out[chosen >= 0] = np.asarray(self._box, dtype=np.float64)[chosen[chosen >= 0]] if self._box else out[chosen >= 0]
        return out

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
        chosen = self._chosen(tracks)
        template = face_template(resolution)
        affines = np.zeros((n, 2, 3))
        affines[:, 0, 0] = affines[:, 1, 1] = 1.0
        has_face = np.zeros(n, dtype=bool)
        k = max((m.shape[0] for m in self._mouth), default=0)
        mouth = np.full((n, k, 2), np.nan)
        offset, previous = None, None
        for f in np.flatnonzero(chosen >= 0):
            row = chosen[f]
            if previous is None or previous[0] != self._track[row] or f - previous[1] > self.max_gap + 1 or self.cut_before[previous[1] + 1 : f + 1].any():
                offset = None
            fit = fit_similarity(self._anchors[row], template, offset, smoothing)
            if fit is None:
                continue
            offset, previous = fit.nose_offset, (self._track[row], f)
            affines[f], has_face[f] = fit.matrix, True
            if self._mouth[row].shape[0] == k:
                mouth[f] = self._mouth[row]
        located = Alignment(
            resolution=resolution, crop_size=crop_size(resolution), source_size=self._size, affines=affines,
            has_face=has_face, interpolated=np.zeros(n, dtype=bool), landmarks=np.zeros((n, 0, 2), np.float32),
            mouth=mouth, backend=backend, cut_before=self.cut_before,
        )
        return bridge_gaps(located, self.max_gap)



def speaker_tracker(
    backend: LandmarkBackend, references: Sequence[Reference], recognition: Recognition | None = None,
    max_gap: int = 4, human_gate: HumanFaceGate | None = None,
) -> FaceTracker:
    """A :class:`FaceTracker` that describes its tracks when ``recognition`` is given and keeps the faces at the
    position references, for :func:`assign_speakers`."""
    positions = [(r.frame, r.index) for r in references if isinstance(r, FacePosition)]
    describer = recognition.describer if recognition is not None else None
    return FaceTracker(backend, max_gap, describer, positions, human_gate)


def _position_track(k: int, position: FacePosition, tracker: FaceTracker) -> int:
    found = tracker.faces_found(position.frame)
    if found is None:
        raise BadInputError(
            f"Speaker {k + 1}'s face {position}: the video has no frame {position.frame} ({len(tracker)} frames); "
            "give a frame number inside the video."
        )
    track = tracker.track_at(position.frame, position.index)
    if track is None:
        raise BadInputError(
            f"Speaker {k + 1}'s face {position}: frame {position.frame} shows {found} face(s), so there is no face "
            f"{position.index} (counted from 0, from the left); list the faces with python -m latentsync_core faces VIDEO."
        )
    return track


def assign_speakers(
    tracker: FaceTracker, references: Sequence[Reference], recognition: Recognition | None = None,
) -> dict[int, int]:
    """Track (index into ``tracker.tracks``) -> speaker (index into ``references``), after :meth:`FaceTracker.finish`.

    A position reference names its track; with ``recognition`` every track is matched to the references'
    embeddings shot by shot (an image reference's largest face, found with the tracker's backend).

    Raises:
        BadInputError: a position names no face, an image reference needs ``recognition``, or a reference
            matches no face in the video.
    """
    fixed = {_position_track(k, r, tracker): k for k, r in enumerate(references) if isinstance(r, FacePosition)}
    assignment: dict[int, int] = {}
    if recognition is not None:
        detector = BackendFaces(tracker.backend)
        embeddings = np.stack([
            tracker.tracks[_position_track(k, r, tracker)].embedding if isinstance(r, FacePosition)
            else reference_embedding(r, lambda _: None, recognition.describer, detector)
            for k, r in enumerate(references)
        ])
        for shot in sorted({t.shot for t in tracker.tracks}):
            ids = [t for t, track in enumerate(tracker.tracks) if track.shot == shot]
            matched = recognition.match([tracker.tracks[t] for t in ids], embeddings)
            assignment.update({t: k for t, k in zip(ids, matched) if k is not None})
    elif any(not isinstance(r, FacePosition) for r in references):
        k = next(k for k, r in enumerate(references) if not isinstance(r, FacePosition))
        raise BadInputError(f"Speaker {k + 1}'s face is an image, which needs face recognition; give their face as FRAME:INDEX.")
    assignment.update(fixed)
    for k in range(len(references)):
        if k not in assignment.values():
            raise BadInputError(
                f"Speaker {k + 1}'s reference matches no face in the video; give a frame grab of their face from "
                "this video, or their place in it as FRAME:INDEX."
            )
    return assignment


def speaker_boxes(tracker: FaceTracker, assignment: dict[int, int], speakers: int) -> list[np.ndarray]:
    """Each speaker's ``(N, 4)`` face box per frame (:meth:`FaceTracker.boxes` of their tracks), NaN where not seen."""
    return [tracker.boxes({t for t, s in assignment.items() if s == k}) for k in range(speakers)]
