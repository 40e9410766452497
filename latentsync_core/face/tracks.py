"""Face tracks within shots, each described once (not per frame), and the speaker of each.

:class:`TrackBuilder` takes a video's frames one by one with the boxes of all their faces:
a face continues the track whose last box it overlaps most (by ``min_iou``, within
``max_gap`` frames, never across a cut) unless it looks unlike the track's last face (its
16x16 grey thumbnail, normalised, differs by over ``FACE_CHANGE``: another person in the
same place, as at a cut the shot detector missed, e.g. two people swapping places on the
same background); each track is described by
:class:`~.identity.FaceDescriber` on a few of its frames (its first, then every
``sample_every`` frames, ``samples`` in all) and its embedding is their element-wise
median, so a blink or a turned head on one frame does not decide who it is. Frames are
not kept: memory holds the open tracks' boxes only. :func:`shot_speakers` then matches the
tracks of one shot to the speakers' reference embeddings.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

from .aligner import TRACK_MIN_IOU
from .geometry import box_iou
from .identity import SAME_PERSON, Box, FaceDescriber, match_speakers

FACE_CHANGE = 0.65
"""Mean absolute difference between two faces' normalised thumbnails that ends a track (measured on
tests/support/people.py: the same face shifted 4 px and scaled 5 % inside a fixed box 0.43, turned
6 degrees 0.42, darkened 0.01; another person in the same box 0.81 ... 0.87)."""


def face_thumbnail(frame: np.ndarray, box: Box) -> np.ndarray:
    """16x16 grey thumbnail of ``box`` in ``frame``, normalised to mean 0 and deviation 1."""
    x0, y0, x1, y1 = box
    crop = frame[max(y0, 0) : max(y1, y0 + 1), max(x0, 0) : max(x1, x0 + 1)]
    grey = cv2.cvtColor(cv2.resize(crop, (16, 16), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return (grey - grey.mean()) / (grey.std() + 1e-6)


@dataclass
class FaceTrack:
    """One face followed through frames of one shot.

    Attributes:
        shot: the shot's number (0 = the first shot).
        frames: the frames it is seen in, increasing.
        boxes: its box in each of those frames.
        descriptors: the embeddings of the frames it was described on.
        thumb: its last face's :func:`face_thumbnail`.
    """

    shot: int
    frames: list[int] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    descriptors: list[np.ndarray] = field(default_factory=list)
    thumb: np.ndarray | None = None

    @property
    def embedding(self) -> np.ndarray:
        """``[128]`` float32: the element-wise median of its descriptors."""
        return np.median(np.stack(self.descriptors), axis=0).astype(np.float32)

    def box_at(self, frame: int) -> Box | None:
        """Its box in ``frame``, or ``None`` where it is not seen."""
        i = int(np.searchsorted(self.frames, frame))
        return self.boxes[i] if i < len(self.frames) and self.frames[i] == frame else None


class TrackBuilder:
    """Links each frame's faces into tracks and describes every track on a few of its frames.

    Args:
        describer: the face describer.
        samples: frames each track is described on (at most).
        sample_every: frames between two descriptions of a track.
        min_iou: box overlap that continues a track.
        max_gap: frames a track may go unseen within its shot and still be continued.
    """

    def __init__(
        self, describer: FaceDescriber, samples: int = 3, sample_every: int = 12,
        min_iou: float = TRACK_MIN_IOU, max_gap: int = 4,
    ) -> None:
        self.describer = describer
        self.samples = max(int(samples), 1)
        self.sample_every = max(int(sample_every), 1)
        self.min_iou = min_iou
        self.max_gap = max_gap
        self._open: list[FaceTrack] = []
        self._shot = -1

    def add(self, index: int, frame: np.ndarray, boxes: list[Box], cut_before: bool) -> list[FaceTrack]:
        """Take frame ``index`` (``(H, W, 3)`` uint8 RGB) and its faces' ``boxes``; return the tracks this ends.

        ``cut_before``: the frame starts a new shot (the first frame always does).
        """
        ended = []
        if cut_before or self._shot < 0:
            ended, self._open = self._open, []
            self._shot += 1
        ended += [t for t in self._open if index - t.frames[-1] > self.max_gap + 1]
        self._open = [t for t in self._open if index - t.frames[-1] <= self.max_gap + 1]
        pairs = sorted(
            ((box_iou(np.asarray(t.boxes[-1], float), np.asarray(b, float)), ti, bi)
             for ti, t in enumerate(self._open) for bi, b in enumerate(boxes)),
            reverse=True,
        )
        thumbs = [face_thumbnail(frame, b) for b in boxes]
        owner: dict[int, FaceTrack] = {}
        taken: set[int] = set()
        for iou, ti, bi in pairs:
            if iou < self.min_iou:
                break
            if float(np.abs(self._open[ti].thumb - thumbs[bi]).mean()) > FACE_CHANGE:
                continue
            if ti not in taken and bi not in owner:
                owner[bi] = self._open[ti]
                taken.add(ti)
        to_describe: list[tuple[FaceTrack, Box]] = []
        for bi, box in enumerate(boxes):
            track = owner.get(bi)
            if track is None:
                track = FaceTrack(self._shot)
                self._open.append(track)
            track.frames.append(index)
            track.boxes.append(tuple(int(v) for v in box))
            track.thumb = thumbs[bi]
            if len(track.descriptors) < self.samples and (len(track.frames) - 1) % self.sample_every == 0:
                to_describe.append((track, track.boxes[-1]))
        if to_describe:
            for (track, _), descriptor in zip(to_describe, self.describer.describe_many(frame, [b for _, b in to_describe])):
                track.descriptors.append(descriptor)
        return ended

    def close(self) -> list[FaceTrack]:
        """The tracks still open (the video ended)."""
        ended, self._open = self._open, []
        return ended


def track_identities(
    frames: Iterable[tuple[int, np.ndarray, list[Box], bool]], describer: FaceDescriber, **options
) -> list[FaceTrack]:
    """Every face track of a video given as ``(index, frame, boxes, cut_before)`` per frame, in the order they end.

    ``options`` go to :class:`TrackBuilder`.
    """
    builder = TrackBuilder(describer, **options)
    tracks = [t for index, frame, boxes, cut in frames for t in builder.add(index, frame, boxes, cut)]
    return tracks + builder.close()


def shot_speakers(tracks: list[FaceTrack], speaker_embeddings: np.ndarray, threshold: float = SAME_PERSON) -> list[int | None]:
    """The speaker (index into ``speaker_embeddings``) of each track of one shot, ``None`` for an unknown face.

    Two tracks whose spans of frames overlap never get the same speaker; one who leaves and comes
    back within the shot (two tracks one after the other) may be matched to both.
    """
    spans = [(t.frames[0], t.frames[-1]) for t in tracks]
    concurrent = np.array([[a[0] <= b[1] and b[0] <= a[1] for b in spans] for a in spans], dtype=bool).reshape(len(tracks), len(tracks))
    return match_speakers(np.stack([t.embedding for t in tracks]) if tracks else np.zeros((0, 128)), speaker_embeddings, threshold, concurrent)
