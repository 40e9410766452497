"""Mouth restoration of a video in one streamed pass (:class:`EnhanceJob`)."""
from __future__ import annotations

import os
from dataclasses import replace
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np
import torch

from ..face.alignment import Alignment
from ..face.aligner import bridge_gaps
from ..face.warp import aligned_faces
from ..media.video_io import FrameWindow, VideoWriter
from .hooks import STAGE_WRITE, Background, InterruptCheck, ProgressCallback
from .options import JobOptions
from .sources import FrameSource
from .stages import finish_window
from .streamed import JobResult, StreamedJob

if TYPE_CHECKING:
    from ..face.aligner import FaceAligner
    from ..restorers import FaceRestorer

def _tail(alignment: Alignment, start: int) -> Alignment:
    """Rows ``start..`` of an aligner's alignment of consecutive frames, still bridgeable (cut flags kept)."""
    rows = np.arange(start, len(alignment))
    return replace(alignment.rows(rows), cut_before=alignment.cut_before[rows])


class EnhanceJob(StreamedJob):
    """Mouth restoration of a video in one streamed pass: windows -> align -> mouth ROI -> restore -> paste.

    Timestamps are the source's; :meth:`write` copies the source's audio.
    With no restorer (and no background) every frame comes out as decoded.

    Args:
        source: a :class:`FrameSource` or a video file path.
        aligner: a fresh :class:`FaceAligner` (its tracking state carries across windows).
        options: ``window``, ``sr_ratio``, ``fidelity``, ``batch_size``, paste options, ``crf``, ``preset``.
        restorers: loaded GFPGAN / CodeFormer networks, applied in order (empty: paste only).
        background, on_progress, check_interrupt: see the module docstring.
    """

    def __init__(
        self, source: FrameSource | str | os.PathLike, aligner: FaceAligner, options: JobOptions = JobOptions(),
        restorers: Sequence[FaceRestorer] = (), background: Background | None = None,
        on_progress: ProgressCallback | None = None, check_interrupt: InterruptCheck | None = None,
    ) -> None:
        super().__init__(source, aligner, options, restorers, background, on_progress, check_interrupt)

    def process(self, frames: np.ndarray, alignment: Alignment) -> np.ndarray:
        """Frames ``(n, H, W, 3)`` uint8 and their alignment (``n`` rows) -> the same frames, enhanced."""
        faces = None
        if alignment.has_face.any():
            faces = aligned_faces(frames, alignment.affines, alignment.has_face, alignment.crop_size, alignment.resolution)
        self.faces += int(alignment.has_face.sum())
        return finish_window(frames, faces, alignment, self.restorer, self.options, self.background)

    def windows(self) -> Iterator[FrameWindow]:
        """The enhanced frames, in order, with the source's timestamps.

        Frames after a window's last face that a face in the next window may still bridge
        (at most ``max_gap``, see :func:`bridge_gaps`) wait for that window, so dropouts are
        bridged across window edges as in one alignment of the whole video; a window out can
        be up to ``max_gap`` frames shorter or longer than ``JobOptions.window``.
        """
        total = self.info.estimated_frames() or 0
        max_gap = self.aligner.max_gap
        held: FrameWindow | None = None  # frames waiting for the next window's faces
        context: Alignment | None = None  # the rows of the last face before them and of them
        for window in self.source.windows(self.options.window):
            self._interrupt()
            located = self.aligner.locate(torch.from_numpy(window.frames).float().div_(255.0))
            rows = bridge_gaps(Alignment.concatenate([context, located] if context is not None else [located]), max_gap)
            if held is not None:
                window = FrameWindow.concatenate([held, window])
            lead = len(rows) - len(window)  # the context's face row, already out
            detected = np.flatnonzero(rows.has_face & ~rows.interpolated)
            wait = len(rows) - 1 - int(detected[-1]) if detected.size else 0
            if wait > max_gap or rows.cut_before[len(rows) - wait :].any():
                wait = 0
            ready = len(window) - wait
            held = window[ready:] if wait else None
            # the last face row (and the held rows after it) lead the next window, so a dropout that starts
            # right after this window's last frame is bridged from that face
            last_face = detected.size > 0 and int(detected[-1]) == len(rows) - 1
            context = _tail(rows, len(rows) - wait - 1) if wait or last_face else None
            if ready:
                yield self._out(window[:ready], rows.rows(np.arange(lead, lead + ready)), total)
        if held is not None:
            yield self._out(held, context.rows(np.arange(1, len(context))), total)

    def _out(self, window: FrameWindow, rows: Alignment, total: int) -> FrameWindow:
        """One enhanced window out, with progress."""
        out = replace(window, frames=self.process(window.frames, rows))  # the decoded planes go with it
        self.frames_out += len(window)
        self._progress(STAGE_WRITE, self.frames_out, max(total, self.frames_out))
        return out

    def _result(self, path: str, writer: VideoWriter) -> JobResult:
        restored = self.restorer.restored if self.restorer is not None else 0
        return JobResult(path, writer.frames_written, writer.frames_written, self.faces, restored, self.info.fps)


def enhance_video(
    source: FrameSource | str | os.PathLike, output: str, aligner: FaceAligner, options: JobOptions = JobOptions(),
    restorers: Sequence[FaceRestorer] = (), background: Background | None = None,
    on_progress: ProgressCallback | None = None, check_interrupt: InterruptCheck | None = None,
) -> JobResult:
    """Restore the mouths of ``source`` and write ``output`` (see :class:`EnhanceJob`)."""
    return EnhanceJob(source, aligner, options, restorers, background, on_progress, check_interrupt).write(output)
