"""What every streamed job shares: progress, interrupt, the restore step, atomic writing and resume (:class:`StreamedJob`)."""
from __future__ import annotations

import dataclasses
import functools
import os
import uuid
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Sequence

import numpy as np

import torch

from ..errors import BadInputError
from ..media.video_io import FrameWindow, SegmentJoiner, VideoWriter, check_output_path
from .hooks import Background, InterruptCheck, ProgressCallback
from .options import JobOptions
from .output_record import pack_version
from .resume import Segment, WorkFolder, file_digest, fingerprint_digest
from .sources import FileSource, FrameSource, open_source
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
    """Shared plumbing: progress, interrupt, atomic writing, resume.

    A job yields its output frames from :meth:`windows`; :meth:`write` encodes them. A job that sets
    ``resumable`` (the lip-sync) is written as segments of about ``options.segment_seconds`` into a work
    folder (:class:`~latentsync_core.run.resume.WorkFolder`) and joined with the sound at the end, and
    continues after the last finished segment when it is written again with the same :meth:`fingerprint`.
    Its contract, for a subclass:

    - ``windows(resume)``: with ``resume`` None, the frames from the start; else the frames after the point
      whose :meth:`checkpoint` gave ``resume``, exactly as an uninterrupted run gives them.
    - :meth:`checkpoint`: after a window was yielded, a JSON-able state to resume from right after it, or None
      where no segment may end; once :meth:`windows` is exhausted, the state of the end (not None).
    - :meth:`fingerprint`: extended with everything else the frames depend on (models, speech, ...).

    ``frames_out``, ``faces`` and the restorer's count are saved and restored by :meth:`write` itself.
    """

    resumable: ClassVar[bool] = False

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
        self.scratch_dir: str | None = None
        """Where the job may keep temporary files: its work folder while :meth:`write` uses one (so a killed
        run's are cleared with it), else the output's folder; None outside :meth:`write`."""

    def _progress(self, stage: str, done: int, total: int) -> None:
        if self._on_progress is not None:
            self._on_progress(stage, done, total)

    def _interrupt(self) -> None:
        if self._check_interrupt is not None:
            self._check_interrupt()

    def windows(self, resume: dict[str, Any] | None = None) -> Iterator[FrameWindow]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the job's temporary files (none here)."""

    @functools.cached_property
    def identity(self) -> dict[str, Any] | None:
        """:meth:`fingerprint`, worked out once (it reads the source file)."""
        return self.fingerprint()

    def resume_key(self) -> str:
        """A short digest of :meth:`fingerprint` (random when there is none): a file name that is the same
        for the same job, so a front-end without a chosen output path (the ComfyUI node) resumes too."""
        return uuid.uuid4().hex[:16] if self.identity is None else fingerprint_digest(self.identity)

    def checkpoint(self) -> dict[str, Any] | None:
        """The state to resume from after the frames yielded so far (None: no segment may end here)."""
        return None

    def fingerprint(self) -> dict[str, Any] | None:
        """What the output is made from: the pack's version, the job, the source file's content and the
        options (all but ``segment_seconds``); None when the source is no file (nothing to resume)."""
        if not isinstance(self.source, FileSource) or not self.info.path:
            return None
        info = {k: str(v) for k, v in dataclasses.asdict(self.info).items() if k != "path"}
        options = dataclasses.asdict(dataclasses.replace(self.options, segment_seconds=0.0))
        return {"pack": pack_version(), "job": type(self).__name__, "video": file_digest(self.info.path),
                "video_info": info, "options": options}

    def _writer_audio(self) -> tuple[torch.Tensor, int] | tuple[torch.Tensor, int, int] | None:
        """The ``audio`` given to the :class:`VideoWriter` (None: the source's track is copied)."""
        return None

    def _result(self, path: str, writer: VideoWriter | SegmentJoiner) -> JobResult:
        """The result of a written job (``writer.frames_written`` frames)."""
        raise NotImplementedError

    def write(self, path: str, work_folder: str | None = None) -> JobResult:
        """Run the job into ``path`` (``.mp4``, ``.m4v``, ``.mov``, ``.mkv``); replaced only on success.

        A resumable job goes through its work folder, made in ``work_folder`` (default: the output's folder)
        and removed once ``path`` is written; see the class docstring. The job's temporary files
        (``scratch_dir``: the work folder, else the output's folder) are removed by :meth:`close` when it
        ends, however it ends; the job cannot run again after.
        """
        check_output_path(path, self.info.path or None)
        try:
            return self._write(path, work_folder)
        finally:
            self.close()

    def _write(self, path: str, work_folder: str | None) -> JobResult:
        fingerprint = self.identity if self.resumable and self.options.segment_seconds > 0 else None
        if fingerprint is None:
            self.scratch_dir = os.path.dirname(os.path.abspath(os.fspath(path)))
            return self._write_once(path)
        work = WorkFolder(path, fingerprint, work_folder)
        segments = work.open()
        self.scratch_dir = work.path
        resume = None
        if segments:
            state = segments[-1].state
            self.frames_out, self.faces, resume = state["frames_out"], state["faces"], state["job"]
            if self.restorer is not None:
                self.restorer.restored = state["restored"]
        self._write_segments(work, segments, resume)
        if not segments:
            raise BadInputError(f"'{self.info.path}' has no video frames. Give a video with at least one frame.")
        joiner = SegmentJoiner(path, self.info, audio=self._writer_audio())
        for segment in segments:
            joiner.add(segment.path, segment.pts)
        joiner.close()
        self.close()  # its temporary files are in the work folder
        work.remove()
        return self._result(joiner.path, joiner)

    def _write_segments(self, work: WorkFolder, segments: list[Segment], resume: dict[str, Any] | None) -> None:
        """Write the frames after ``segments`` as new segments of ``work``, appended to ``segments``."""
        length = max(1, round(self.options.segment_seconds * float(self.info.fps)))
        writer, pts = None, []
        try:
            for window in self.windows(resume):
                if writer is None:
                    size = (window.frames.shape[2], window.frames.shape[1])
                    writer = VideoWriter(work.segment_path(len(segments)), self.info, copy_audio=False,
                                         crf=self.options.crf, preset=self.options.preset, size=size)
                writer.write(window.frames, window.pts, window.decoded)
                pts.append(window.pts)
                if writer.frames_written >= length and (cut := self.checkpoint()) is not None:
                    segments.append(self._finish(work, len(segments), writer, pts, cut))
                    writer, pts = None, []
            if writer is not None:
                segments.append(self._finish(work, len(segments), writer, pts, self.checkpoint()))
        except BaseException:
            if writer is not None:
                writer.abort()
            raise

    def _finish(
        self, work: WorkFolder, index: int, writer: VideoWriter, pts: list[np.ndarray], cut: dict[str, Any] | None,
    ) -> Segment:
        if cut is None:
            raise RuntimeError(f"{type(self).__name__}.checkpoint() gave no state at the end of its frames.")
        writer.close()
        restored = self.restorer.restored if self.restorer is not None else 0
        state = {"frames_out": self.frames_out, "faces": self.faces, "restored": restored, "job": cut}
        return work.finish(index, np.concatenate(pts), state)

    def _write_once(self, path: str) -> JobResult:
        """Write ``path`` in one pass, without segments."""
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
