"""Shot boundaries: a cut is a large change between small grey thumbnails of consecutive frames.

The one cut detector of the face path: the aligner resets its tracking at the cuts it
finds, the face listing (``python -m latentsync_core faces``) and the speakers' face
tracks (:mod:`.tracks`) split a video into the shots between them. A frame's thumbnail
is 16x16 grey, taken from every 8th pixel (cheap at any size); a cut is a mean absolute
difference over ``CUT_THRESHOLD`` (0..1 levels) from the previous frame's thumbnail.
Frames are looked at one by one, so a video is read window by window in bounded memory.
"""
from __future__ import annotations

import bisect
from collections.abc import Iterable

import cv2
import numpy as np
import torch

CUT_THRESHOLD = 0.15
"""Mean absolute difference (0..1) between consecutive thumbnails that makes a cut."""

Shot = tuple[int, int]
"""Frames ``start <= i < stop`` of one shot."""


def thumbnail(frame: np.ndarray | torch.Tensor) -> np.ndarray:
    """16x16 grey thumbnail in 0..1 of an ``(H, W, 3)`` uint8 frame or an ``[H, W, 3]`` float 0..1 tensor."""
    sparse = frame[::8, ::8]
    if isinstance(sparse, torch.Tensor):
        sparse = np.clip(np.ascontiguousarray(sparse.cpu().numpy(), dtype=np.float32), 0.0, 1.0)
    else:
        sparse = np.ascontiguousarray(sparse, dtype=np.float32) / 255.0
    gray = cv2.cvtColor(sparse, cv2.COLOR_RGB2GRAY)
    return cv2.resize(gray, (16, 16), interpolation=cv2.INTER_AREA)


class CutDetector:
    """Tells, frame after frame, whether a frame starts a new shot (the first frame does not)."""

    def __init__(self, threshold: float = CUT_THRESHOLD) -> None:
        self.threshold = threshold
        self.previous: np.ndarray | None = None
        """The last frame's thumbnail (a landmark cache stores it to go on from a cached window)."""

    def is_cut(self, frame: np.ndarray | torch.Tensor) -> bool:
        """Whether ``frame`` starts a new shot; remembers its thumbnail for the next frame."""
        thumb = thumbnail(frame)
        cut = self.previous is not None and float(np.abs(thumb - self.previous).mean()) > self.threshold
        self.previous = thumb
        return cut


def detect_shots(batches: Iterable[np.ndarray | torch.Tensor], threshold: float = CUT_THRESHOLD) -> list[Shot]:
    """The shots of a video given as consecutive frame batches (e.g. each ``FrameWindow.frames``).

    Only one batch is looked at at a time. Returns ``(start, stop)`` frame ranges that
    cover the video in order; ``[]`` for a video without frames.
    """
    detector = CutDetector(threshold)
    starts: list[int] = []
    count = 0
    for batch in batches:
        for frame in batch:
            if detector.is_cut(frame) or count == 0:
                starts.append(count)
            count += 1
    return [(start, stop) for start, stop in zip(starts, [*starts[1:], count])]


def shot_of(shots: list[Shot], frame: int) -> int:
    """Index in ``shots`` of the shot holding ``frame``."""
    return bisect.bisect_right([start for start, _ in shots], frame) - 1
