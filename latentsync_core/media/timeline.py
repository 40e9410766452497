"""When each frame of a source video is shown: its timestamps, and whether they keep one frame rate.

Phones record at a variable frame rate: frame ``i`` is not at ``i / fps``. A lip-sync that
places frame ``i`` at ``i / fps`` moves the frames away from the sound, and the mouth drifts off
the words. :class:`FrameTimes` holds the timestamps :func:`~.video_io.read_windows` gives (one
``int64`` per frame, 0.7 MB per hour at 25 fps), so output frames can keep them and each frame's
audio tokens can be taken at its own time (:mod:`latentsync_core.lipsync.audio`).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .video_io import VideoInfo


@dataclass(frozen=True)
class FrameTimes:
    """Presentation times of a video's frames.

    Attributes:
        pts: ``[N]`` int64 timestamps in ``time_base`` ticks from the stream start, strictly
            increasing (those of :func:`~.video_io.read_windows`).
        end: the tick where the last frame stops being shown.
        time_base: seconds per tick.
        fps: the stream's average frame rate.
    """

    pts: np.ndarray
    end: int
    time_base: Fraction
    fps: Fraction

    @classmethod
    def from_pts(cls, pts: np.ndarray, info: VideoInfo) -> FrameTimes:
        """The times of frames read from ``info``'s file; the last frame lasts as long as the one
        before it (one frame at ``info.fps`` when there is only one)."""
        pts = np.asarray(pts, dtype=np.int64)
        if pts.ndim != 1 or pts.size == 0 or (pts.size > 1 and np.any(np.diff(pts) <= 0)):
            raise ValueError(f"Frame timestamps must be a non-empty strictly increasing [N] array, got {pts!r}.")
        last = int(pts[-1] - pts[-2]) if pts.size > 1 else max(1, round(1 / (info.fps * info.time_base)))
        return cls(pts, int(pts[-1]) + last, Fraction(info.time_base), Fraction(info.fps))

    @property
    def ticks_per_frame(self) -> Fraction:
        """``1 / (fps * time_base)``: ticks between frames at the average rate."""
        return 1 / (self.fps * self.time_base)

    @property
    def constant_rate(self) -> bool:
        """Whether frame ``i`` is at ``i / fps`` to within one tick (the container's rounding, e.g.
        29.97 fps in Matroska's milliseconds): then ``i / fps`` is the frame's time, as today."""
        step = self.ticks_per_frame
        i = np.arange(self.pts.size, dtype=np.int64)
        # |pts - i * num / den| <= 1, in integers: |pts * den - i * num| <= den
        error = np.abs(self.pts * step.denominator - i * step.numerator)
        return bool(np.all(error <= step.denominator))
