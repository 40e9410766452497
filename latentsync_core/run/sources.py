"""Where a job's frames come from: a video file or any producer of frame batches, and reading them by index."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterable, Iterator, Protocol

import numpy as np

from ..errors import BadInputError
from ..media.colourspace import DecodedFrame
from ..media.video_io import FrameWindow, KeyframeIndex, VideoInfo, probe, read_windows

class FrameSource(Protocol):
    """Where a job's frames come from.

    ``info`` gives the size, frame rate and time base (and, for a file, the path
    whose audio ``enhance`` copies). ``windows(size, start)`` yields the frames
    from frame ``start`` on in :class:`FrameWindow`\\ s of at most ``size``, and
    can be called again (a lip-sync job reads frames again for its length mode).
    """

    info: VideoInfo

    def windows(self, size: int, start: int = 0) -> Iterator[FrameWindow]: ...


@dataclass(frozen=True)
class TimeSpan:
    """A part of a video by time, as a ComfyUI VIDEO's trim window (``get_active_trim_window``) names it.

    A frame is in the span when its timestamp ``t`` (seconds from the first frame, as
    :func:`read_windows` gives it) has ``start <= t < start + duration``.

    Attributes:
        start: seconds from the first frame; a negative value counts back from the video's end.
        duration: seconds; 0 runs to the end.
    """

    start: float = 0.0
    duration: float = 0.0


class FileSource:
    """A video file, or a :class:`TimeSpan` of it, as a :class:`FrameSource` (decoded with :func:`read_windows`).

    A read from a later frame (pingpong going backwards) seeks to the nearest key frame
    an earlier read met instead of decoding from the start of the file.

    With a ``span``, only its frames are read: numbered from 0, with timestamps from 0 at the
    first of them (``info.start_pts`` is moved there), ``info.duration`` the span's length and
    no audio track in ``info`` (the file's own track is not cut to the span). Opening such a
    source decodes the file up to the span once, to find its first frame (key frames met on
    the way let later reads seek), and raises :class:`BadInputError` when no frame is in it.
    """

    def __init__(self, info: VideoInfo, span: TimeSpan | None = None) -> None:
        self.info = info
        self._file = info
        self._keyframes = KeyframeIndex()
        self._first = 0  # index in the file of the span's first frame
        self._end: int | None = None  # end of the span, in ticks from its first frame (exclusive)
        if span is not None:
            self._find(span)

    def _find(self, span: TimeSpan) -> None:
        info = self._file
        start = span.start
        if start < 0:
            if info.duration is None:
                raise BadInputError(
                    f"'{info.path}' does not say how long it is, so a span {-start:g} s before its end cannot "
                    "be placed. Trim it from its start instead."
                )
            start = max(info.duration + start, 0.0)
        begin = round(Fraction(start) / info.time_base)
        end = begin + round(Fraction(span.duration) / info.time_base) if span.duration else None
        first = None
        frames = read_windows(info, 1, 0, self._keyframes)
        try:
            for window in frames:
                t = int(window.pts[0])
                if t >= begin:
                    if end is None or t < end:
                        first = window.start, t
                    break
        finally:
            frames.close()
        if first is None:
            length = f"{info.duration:g} s long" if info.duration is not None else "of unknown length"
            raise BadInputError(
                f"No frame of '{info.path}' ({length}) is in the span from {start:g} s"
                f"{f' for {span.duration:g} s' if span.duration else ' to the end'}. Trim within the video."
            )
        self._first, origin = first
        self._end = None if end is None else end - origin
        seconds = info.duration - start if info.duration is not None else None
        if span.duration and (seconds is None or span.duration < seconds):
            seconds = span.duration
        self.info = dataclasses.replace(
            info, start_pts=info.start_pts + origin, frame_count=None, duration=seconds, audio_codec=None,
        )

    def windows(self, size: int, start: int = 0) -> Iterator[FrameWindow]:
        origin = self.info.start_pts - self._file.start_pts
        frames = read_windows(self._file, size, self._first + start, self._keyframes)
        try:
            for window in frames:
                n = len(window) if self._end is None else int(np.searchsorted(window.pts - origin, self._end))
                if n:
                    part = window[:n]  # with its decoded planes
                    yield dataclasses.replace(part, pts=part.pts - origin, start=part.start - self._first)
                if n < len(window):
                    return
        finally:
            frames.close()


def open_source(path: str, span: TimeSpan | None = None) -> FileSource:
    """Probe ``path`` (:class:`BadInputError` if it is no readable video) and wrap it as a source (of ``span``)."""
    return FileSource(probe(path), span)


class IterableSource:
    """Frames from any producer, e.g. a ComfyUI node, as a :class:`FrameSource`.

    Args:
        batches: called with no argument, returns a fresh iterable of
            ``(n, H, W, 3)`` uint8 RGB frame batches (any ``n``), from the first frame;
            it is called again when frames are read again.
        fps: frame rate.
        width, height: frame size.
        frame_count: frames, when known (progress only).
    """

    def __init__(
        self, batches: Callable[[], Iterable[np.ndarray]], fps: float | Fraction, width: int, height: int,
        frame_count: int | None = None,
    ) -> None:
        rate = Fraction(fps).limit_denominator(1001000)
        self._batches = batches
        self.info = VideoInfo(
            path="", width=int(width), height=int(height), fps=rate, time_base=1 / rate, start_pts=0,
            frame_count=frame_count, duration=None, audio_codec=None,
        )

    def windows(self, size: int, start: int = 0) -> Iterator[FrameWindow]:
        shape = (self.info.height, self.info.width, 3)
        buf, index = [], 0
        for batch in self._batches():
            batch = np.asarray(batch)
            if batch.ndim != 4 or batch.shape[1:] != shape or batch.dtype != np.uint8:
                raise BadInputError(
                    f"Frame batches must be (n, {shape[0]}, {shape[1]}, 3) uint8, got {batch.shape} {batch.dtype}."
                )
            for frame in batch:
                if index >= start:
                    buf.append(frame)
                    if len(buf) == size:
                        yield self._window(buf, index + 1 - size)
                        buf = []
                index += 1
        if buf:
            yield self._window(buf, index - len(buf))

    @staticmethod
    def _window(frames: list[np.ndarray], start: int) -> FrameWindow:
        return FrameWindow(np.stack(frames), np.arange(start, start + len(frames), dtype=np.int64), start)


class FrameReader:
    """Source frames by index, in any order, holding a bounded cache around the last request.

    A missing frame loads a block of ``window`` frames from it on (forwards) or up to
    it (when requests go backwards, as pingpong does); reading restarts the
    source's ``windows`` only when the block starts before the open reader. A frame
    read from a file comes with its decoded planes (:attr:`FrameWindow.decoded`),
    which the writer needs to write its unchanged pixels as they were decoded.
    """

    def __init__(self, source: FrameSource, window: int) -> None:
        self._source = source
        self._window = window
        self._frames: Iterator[tuple[np.ndarray, DecodedFrame | None]] | None = None
        self._next = 0  # index of the frame self._frames yields next
        self._cache: dict[int, tuple[np.ndarray, DecodedFrame | None]] = {}
        self._last = -1

    def _open(self, start: int) -> None:
        self._frames = (
            (frame, w.decoded[i] if w.decoded is not None else None)
            for w in self._source.windows(self._window, start)
            for i, frame in enumerate(w.frames)
        )
        self._next = start

    def _load(self, index: int) -> None:
        first = max(0, index - self._window + 1) if index < self._last else index
        for key in [k for k in self._cache if abs(k - index) >= self._window]:
            del self._cache[key]
        if self._frames is None or first < self._next:
            self._open(first)
        while self._next < first + self._window:
            item = next(self._frames, None)
            if item is None:
                break
            if self._next >= first:
                frame, decoded = item
                # the decoded planes' RGB is a view of the frame: kept as it is (never written into)
                self._cache[self._next] = (frame, decoded) if decoded is not None else (frame.copy(), None)
            self._next += 1
        if index not in self._cache:
            raise BadInputError(f"The source ended before frame {index}; it gave fewer frames on a second read.")

    def get(self, indices: np.ndarray) -> tuple[np.ndarray, list[DecodedFrame] | None]:
        """``(k, H, W, 3)`` uint8 frames ``indices`` and their decoded planes (None: RGB only)."""
        out = []
        for i in (int(i) for i in indices):
            if i not in self._cache:
                self._load(i)
            out.append(self._cache[i])
            self._last = i
        decoded = [d for _, d in out]
        return np.stack([f for f, _ in out]), (None if any(d is None for d in decoded) else decoded)
