"""What every streamed job shares: progress, interrupt, the restore step and atomic writing (:class:`StreamedJob`)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Iterator, Sequence

import torch

from ..errors import BadInputError
from ..media.video_io import FrameWindow, VideoWriter, check_output_path
from .hooks import Background, InterruptCheck, ProgressCallback
from .options import JobOptions
from .sources import FrameSource, open_source
from .stages import MouthRestorer

if TYPE_CHECKING:
    from ..face.aligner import FaceAligner
    from ..restorers import FaceRestorer

@dataclass
class JobResult:
    """What a job wrote.

    Attributes:
        path: the output file.
        frames: output frames written.
        source_frames: frames of the source video.
        faces: output frames with a face.
        restored: mouths restored.
        fps: output frame rate (the source's).
        audio_seconds: length of the new audio track (lip-sync), None when the source's is copied.
    """

    path: str
    frames: int
    source_frames: int
    faces: int
    restored: int
    fps: Fraction
    audio_seconds: float | None = None


class StreamedJob:
    """Shared plumbing: progress, interrupt, atomic writing."""

    def __init__(
        self, source: FrameSource | str | os.PathLike, aligner: FaceAligner, options: JobOptions,
        restorers: Sequence[FaceRestorer], background: Background | None, on_progress: ProgressCallback | None, check_interrupt: InterruptCheck | None,
    ) -> None:
        options.validate()
        self.source = open_source(os.fspath(source)) if isinstance(source, (str, os.PathLike)) else source
        self.info = self.source.info
        self.aligner = aligner
        self.options = options
        self.restorer = MouthRestorer.from_options(restorers, options, check_interrupt)
        self.background = background
        self._on_progress = on_progress
        self._check_interrupt = check_interrupt
        self.faces = 0
        self.frames_out = 0

    def _progress(self, stage: str, done: int, total: int) -> None:
        if self._on_progress is not None:
            self._on_progress(stage, done, total)

    def _interrupt(self) -> None:
        if self._check_interrupt is not None:
            self._check_interrupt()

    def windows(self) -> Iterator[FrameWindow]:
        raise NotImplementedError

    def _writer_audio(self) -> tuple[torch.Tensor, int] | tuple[torch.Tensor, int, int] | None:
        """The ``audio`` given to the :class:`VideoWriter` (None: the source's track is copied)."""
        return None

    def _result(self, path: str, writer: VideoWriter) -> JobResult:
        raise NotImplementedError

    def write(self, path: str) -> JobResult:
        """Run the job into ``path`` (``.mp4``, ``.m4v``, ``.mov``, ``.mkv``); replaced only on success."""
        check_output_path(path, self.info.path or None)
        writer = None
        try:
            for window in self.windows():
                if writer is None:
                    size = (window.frames.shape[2], window.frames.shape[1])
                    writer = VideoWriter(
                        path, self.info, crf=self.options.crf, preset=self.options.preset, audio=self._writer_audio(),
                        size=size,
                    )
                writer.write(window.frames, window.pts, window.decoded)
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        if writer is None:
            raise BadInputError(f"'{self.info.path}' has no video frames. Give a video with at least one frame.")
        writer.close()
        return self._result(writer.path, writer)
