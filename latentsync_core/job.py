"""The streamed lip-sync job: the one place the whole pipeline is composed.

The command line (``lipsync``, ``enhance``), the streaming ComfyUI node and the
tests all run these classes; :func:`latentsync_core.pipeline.lip_sync` is the
in-memory form of the same steps (it holds every frame; the parity tests
compare the two).

Lip-sync (:class:`LipSyncJob`, :func:`lip_sync_video`)::

    pass 1  source frames in windows -> FaceAligner (tracking state carried from
            window to window); only the alignment (transforms, landmarks) is kept,
            and short dropouts are bridged over it as a whole (also across window edges)
    audio   Whisper features of the whole audio, once; the length mode's frame map
            (output frame -> source frame) and the new speech fitted to the output
    pass 2  output frames in order, chunk by chunk (ChunkSampler: one generator,
            the in-memory RNG order): the source frames the frame map names are
            read again (a small cache of frames around the current position; going
            backwards -- pingpong -- re-reads a window before it, from the nearest
            key frame) -> aligned faces -> sample -> mouth ROI -> restore where the
            ROI was enlarged more than ``sr_ratio`` -> (background hook) -> paste
            -> encoded frames out

Enhance (:class:`EnhanceJob`, :func:`enhance_video`) is one pass: windows ->
align -> mouth ROI -> restore -> paste -> out, with the source's timestamps and
audio; the few frames after a window's last face wait for the next window, which
may bridge them.

Memory holds a window (``JobOptions.window`` frames, default 32) and one chunk
(``chunk_size`` <= 24) of frames at a time, a cache of at most
``3 x window`` source frames, plus per-frame metadata (alignment transforms and
landmarks, the frame map) and the Whisper features of the audio (about 15 kB
per output frame at 25 fps), never the frames of the whole video.

A frame is only changed where something in it changed: frames without a face,
faces the sampler left alone and mouths a restorer skipped (``sr_ratio``) come
out as decoded, bit for bit (on a lossless output, ``crf=0``).

Public API (stable):

- :class:`JobOptions`: every option with its default, from the option table
  (:mod:`latentsync_core.run.options`; ``DEFAULT_SR_RATIO`` etc.).
- :class:`LipSyncModels`: the loaded UNet, VAE, Whisper and where they run.
- Sources: :class:`FileSource` (a video file, :func:`open_source`) or
  :class:`IterableSource` (any re-iterable producer of uint8 frame batches, e.g.
  a ComfyUI node).
- :class:`LipSyncJob` / :func:`lip_sync_video`, :class:`EnhanceJob` /
  :func:`enhance_video`: ``job.windows()`` yields output :class:`FrameWindow`\\ s,
  ``job.write(path)`` encodes them atomically (nothing at ``path`` on error or
  interrupt) and returns a :class:`JobResult`.
- Hooks: ``on_progress(stage, done, total)`` with stage ``"align"`` (source frames
  aligned; total 0 when unknown), ``"sample"`` (sampler steps) or ``"write"``
  (output frames); ``check_interrupt()`` is called often and raises to stop;
  ``background(frames)`` maps each window of source frames ``(n, H, W, 3)`` uint8
  to the frames the faces are pasted into, ``(n, H', W', 3)`` uint8, of any fixed
  size (e.g. a 2x/4x upscaler): faces are pasted at the new size.
- :class:`MouthRestorer`, :func:`restore_and_paste`: the restore + paste stage.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Protocol, Sequence

import numpy as np
import torch

from .errors import BadInputError
from .face.alignment import Alignment
from .face.face_align import bridge_gaps
from .face.mouth_roi import MouthROI, crop_mouth
from .face.paste import paste_back
from .face.warp import aligned_faces
from .lipsync.audio import AudioPlan, plan_audio
from .media.video_io import FrameWindow, KeyframeIndex, VideoInfo, VideoWriter, check_output_path, probe, read_windows
from .run.options import (  # noqa: F401 (re-exported: the job's public API)
    DEFAULT_CRF,
    DEFAULT_FIDELITY,
    DEFAULT_LENGTH_MODE,
    DEFAULT_MASK_SMOOTH,
    DEFAULT_PRESET,
    DEFAULT_ROI_SIZE,
    DEFAULT_SR_RATIO,
    DEFAULT_WINDOW,
    JobOptions,
)

if TYPE_CHECKING:
    from .face.face_align import FaceAligner
    from .lipsync.whisper import WhisperAudioEncoder
    from .restorers import FaceRestorer

STAGE_ALIGN = "align"
STAGE_SAMPLE = "sample"
STAGE_WRITE = "write"

ProgressCallback = Callable[[str, int, int], None]
"""``on_progress(stage, done, total)``; see the module docstring."""
InterruptCheck = Callable[[], None]
"""``check_interrupt()``: raises to stop the job."""
Background = Callable[[np.ndarray], np.ndarray]
"""``background(frames)``: ``(n, H, W, 3)`` uint8 source frames -> ``(n, H', W', 3)`` uint8."""


@dataclass
class LipSyncModels:
    """The loaded LatentSync models.

    Attributes:
        unet: the LatentSync UNet on ``device`` in ``dtype`` (1.5 for 256 faces, 1.6 for 512).
        vae: diffusers ``AutoencoderKL`` (SD 1.x VAE) on ``device``.
        whisper: the Whisper tiny encoder (any device).
        device, dtype: where and in which precision the UNet runs.
    """

    unet: torch.nn.Module
    vae: torch.nn.Module
    whisper: WhisperAudioEncoder
    device: torch.device | str = "cpu"
    dtype: torch.dtype = torch.float32


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


# ---------------------------------------------------------------- sources


class FrameSource(Protocol):
    """Where a job's frames come from.

    ``info`` gives the size, frame rate and time base (and, for a file, the path
    whose audio ``enhance`` copies). ``windows(size, start)`` yields the frames
    from frame ``start`` on in :class:`FrameWindow`\\ s of at most ``size``, and
    can be called again (a lip-sync job reads frames again for its length mode).
    """

    info: VideoInfo

    def windows(self, size: int, start: int = 0) -> Iterator[FrameWindow]: ...


class FileSource:
    """A video file as a :class:`FrameSource` (decoded with :func:`read_windows`).

    A read from a later frame (pingpong going backwards) seeks to the nearest key frame
    an earlier read met instead of decoding from the start of the file.
    """

    def __init__(self, info: VideoInfo) -> None:
        self.info = info
        self._keyframes = KeyframeIndex()

    def windows(self, size: int, start: int = 0) -> Iterator[FrameWindow]:
        return read_windows(self.info, size, start, self._keyframes)


def open_source(path: str) -> FileSource:
    """Probe ``path`` (:class:`BadInputError` if it is no readable video) and wrap it as a source."""
    return FileSource(probe(path))


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


class _FrameReader:
    """Source frames by index, in any order, holding a bounded cache around the last request.

    A missing frame loads a block of ``window`` frames from it on (forwards) or up to
    it (when requests go backwards, as pingpong does); reading restarts the
    source's ``windows`` only when the block starts before the open reader.
    """

    def __init__(self, source: FrameSource, window: int) -> None:
        self._source = source
        self._window = window
        self._frames: Iterator[np.ndarray] | None = None
        self._next = 0  # index of the frame self._frames yields next
        self._cache: dict[int, np.ndarray] = {}
        self._last = -1

    def _open(self, start: int) -> None:
        self._frames = (f for w in self._source.windows(self._window, start) for f in w.frames)
        self._next = start

    def _load(self, index: int) -> None:
        first = max(0, index - self._window + 1) if index < self._last else index
        for key in [k for k in self._cache if abs(k - index) >= self._window]:
            del self._cache[key]
        if self._frames is None or first < self._next:
            self._open(first)
        while self._next < first + self._window:
            frame = next(self._frames, None)
            if frame is None:
                break
            if self._next >= first:
                self._cache[self._next] = frame.copy()
            self._next += 1
        if index not in self._cache:
            raise BadInputError(f"The source ended before frame {index}; it gave fewer frames on a second read.")

    def get(self, indices: np.ndarray) -> np.ndarray:
        """``(k, H, W, 3)`` uint8 frames ``indices``."""
        out = []
        for i in (int(i) for i in indices):
            if i not in self._cache:
                self._load(i)
            out.append(self._cache[i])
            self._last = i
        return np.stack(out)


# ---------------------------------------------------------------- restore + paste


class MouthRestorer:
    """The restore step: GFPGAN and/or CodeFormer over the mouth crops that need it.

    A crop is restored when its mouth box spans fewer than ``target / sr_ratio``
    source pixels (see :func:`restorers.frames_needing_restore`); the others,
    and frames without a face, are left as they are (and so are not pasted).
    With several networks ("both": GFPGAN, then CodeFormer) each restores the
    previous one's output.

    Args:
        nets: loaded :class:`restorers.FaceRestorer` networks, applied in order.
        sr_ratio: upscale factor above which a crop is restored.
        fidelity: CodeFormer's ``w``, 0 (most restoration) .. 1 (closest to input).
        batch_size: crops per network call.
        check_interrupt: called before every network call.
    """

    def __init__(
        self, nets: Sequence[FaceRestorer], sr_ratio: float = DEFAULT_SR_RATIO, fidelity: float = DEFAULT_FIDELITY,
        batch_size: int = 4, check_interrupt: InterruptCheck | None = None,
    ) -> None:
        self.nets = nets
        self.sr_ratio = sr_ratio
        self.fidelity = fidelity
        self.batch_size = batch_size
        self.check_interrupt = check_interrupt
        self.restored = 0

    @classmethod
    def from_options(
        cls, nets: Sequence[FaceRestorer], options: JobOptions, check_interrupt: InterruptCheck | None = None
    ) -> MouthRestorer | None:
        """The restore step of ``options`` for ``nets`` (None when there are none)."""
        if not nets:
            return None
        batch = options.batch_size or (4 if nets[0].device.type == "cuda" else 1)
        return cls(nets, options.sr_ratio, options.fidelity, batch, check_interrupt)

    def __call__(self, roi: MouthROI) -> MouthROI:
        from .restorers import frames_needing_restore, restore_selected

        mask = frames_needing_restore(roi.source_size, roi.target_size, self.sr_ratio, roi.valid)
        if not mask.any():
            return roi
        crops = roi.crops
        for net in self.nets:
            crops = restore_selected(
                crops, mask, functools.partial(net.restore, fidelity=self.fidelity), self.batch_size,
                before_batch=self.check_interrupt,
            )
        self.restored += int(mask.sum())
        return roi.replace_crops(crops)


def restore_and_paste(
    frames: torch.Tensor,
    faces: torch.Tensor,
    alignment: Alignment,
    restorer: Callable[[MouthROI], MouthROI] | None,
    options: JobOptions,
    inplace: bool = False,
    reference: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mouth ROI -> restore -> paste of (lip-synced) aligned faces into their frames.

    Args:
        frames: ``[N, H, W, 3]`` float 0..1 source frames (see :func:`paste_back` for a selected alignment),
            or those frames enlarged (a background upscaler; the faces are pasted at that size).
        faces: ``[M, R, R, 3]`` float 0..1 aligned faces, one per alignment row.
        alignment: the rows of those faces (made on the source frames: ``sr_ratio`` counts source pixels).
        restorer: the restore step, or None.
        options: ``roi_size``, ``mask_smooth``, ``colour_match``, ``paste_region``.
        inplace: paste into ``frames`` (see :func:`paste_back`).
        reference: the source frames when ``frames`` are enlarged (see :func:`paste_back`).

    Returns:
        ``[M, H, W, 3]`` float32; frames where nothing changed are equal to their source.
    """
    roi = None
    if restorer is not None and alignment.has_face.any():
        roi = restorer(crop_mouth(faces, alignment, options.roi_size))
    return paste_back(
        frames, faces, alignment, roi=roi, mask_smooth=options.mask_smooth, colour_match=options.colour_match,
        region=options.paste_region, inplace=inplace, reference=reference,
    )


def _finish(
    frames: np.ndarray,
    faces: torch.Tensor | None,
    rows: Alignment,
    restorer: MouthRestorer | None,
    options: JobOptions,
    background: Background | None,
) -> np.ndarray:
    """One window's frames out: background hook, then restore + paste; ``(n, H', W', 3)`` uint8.

    With a background step the faces are pasted into its (enlarged) frames; what changed in a face
    is still decided against the source frames, so only the lip-synced region replaces the
    background's pixels.
    """
    reference = None
    if background is not None:
        reference = torch.from_numpy(frames).float().div_(255.0)
        frames = np.asarray(background(frames))
        if frames.ndim != 4 or frames.shape[0] != len(rows) or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise BadInputError(f"The background step must return ({len(rows)}, H, W, 3) uint8 frames, got {frames.shape} {frames.dtype}.")
    if faces is None or not rows.has_face.any():
        return frames
    source = torch.from_numpy(frames).float().div_(255.0)
    out = restore_and_paste(source, faces, rows, restorer, options, inplace=True, reference=reference)
    return out.mul_(255.0).round_().clamp_(0, 255).to(torch.uint8).numpy()


# ---------------------------------------------------------------- jobs


def _tail(alignment: Alignment, start: int) -> Alignment:
    """Rows ``start..`` of an aligner's alignment of consecutive frames, still bridgeable (cut flags kept)."""
    rows = np.arange(start, len(alignment))
    return replace(alignment.rows(rows), cut_before=alignment.cut_before[rows])


class _Job:
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

    def _writer_audio(self) -> tuple[torch.Tensor, int] | None:
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
                writer.write(window.frames, window.pts)
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        if writer is None:
            raise BadInputError(f"'{self.info.path}' has no video frames. Give a video with at least one frame.")
        writer.close()
        return self._result(writer.path, writer)


class EnhanceJob(_Job):
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
        return _finish(frames, faces, alignment, self.restorer, self.options, self.background)

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
                window = FrameWindow(
                    np.concatenate([held.frames, window.frames]), np.concatenate([held.pts, window.pts]), held.start,
                )
            lead = len(rows) - len(window)  # the context's face row, already out
            detected = np.flatnonzero(rows.has_face & ~rows.interpolated)
            wait = len(rows) - 1 - int(detected[-1]) if detected.size else 0
            if wait > max_gap or rows.cut_before[len(rows) - wait :].any():
                wait = 0
            ready = len(window) - wait
            held = FrameWindow(window.frames[ready:], window.pts[ready:], window.start + ready) if wait else None
            context = _tail(rows, len(rows) - wait - 1) if wait else None
            if ready:
                out = FrameWindow(window.frames[:ready], window.pts[:ready], window.start)
                yield self._out(out, rows.rows(np.arange(lead, lead + ready)), total)
        if held is not None:
            yield self._out(held, context.rows(np.arange(1, len(context))), total)

    def _out(self, window: FrameWindow, rows: Alignment, total: int) -> FrameWindow:
        """One enhanced window out, with progress."""
        out = FrameWindow(self.process(window.frames, rows), window.pts, window.start)
        self.frames_out += len(window)
        self._progress(STAGE_WRITE, self.frames_out, max(total, self.frames_out))
        return out

    def _result(self, path: str, writer: VideoWriter) -> JobResult:
        restored = self.restorer.restored if self.restorer is not None else 0
        return JobResult(path, writer.frames_written, writer.frames_written, self.faces, restored, self.info.fps)


class LipSyncJob(_Job):
    """A streamed lip-sync of a video to new speech (see the module docstring for the passes).

    Args:
        source: a :class:`FrameSource` or a video file path.
        waveform: ``[T]``, ``[C, T]`` or ``[1, C, T]`` float speech at ``sample_rate``.
        sample_rate: Hz of ``waveform``.
        models: the loaded :class:`LipSyncModels`.
        aligner: a fresh :class:`FaceAligner` at the UNet's resolution (256 for 1.5, 512 for 1.6).
        options: see :class:`JobOptions`.
        restorers: loaded GFPGAN / CodeFormer networks, applied in order (empty: none).
        background, on_progress, check_interrupt: see the module docstring.

    After :meth:`prepare` (run by :meth:`windows`): ``alignment`` (one row per source
    frame), ``audio`` (the :class:`AudioPlan`: frame map, features, fitted speech).
    """

    def __init__(
        self, source: FrameSource | str | os.PathLike, waveform: torch.Tensor, sample_rate: int, models: LipSyncModels,
        aligner: FaceAligner, options: JobOptions = JobOptions(), restorers: Sequence[FaceRestorer] = (),
        background: Background | None = None, on_progress: ProgressCallback | None = None,
        check_interrupt: InterruptCheck | None = None,
    ) -> None:
        super().__init__(source, aligner, options, restorers, background, on_progress, check_interrupt)
        self.waveform = waveform
        self.sample_rate = int(sample_rate)
        self.models = models
        self.alignment: Alignment | None = None
        self.audio: AudioPlan | None = None

    def prepare(self) -> None:
        """Pass 1 (align every source frame, keeping only the alignment) and the audio plan."""
        if self.audio is not None:
            return
        total = self.info.estimated_frames() or 0
        parts: list[Alignment] = []
        done = 0
        for window in self.source.windows(self.options.window):
            self._interrupt()
            parts.append(self.aligner.locate(torch.from_numpy(window.frames).float().div_(255.0)))
            done += len(window)
            self._progress(STAGE_ALIGN, done, max(total, done))
        if not parts:
            raise BadInputError(f"'{self.info.path}' has no video frames. Give a video with at least one frame.")
        self.alignment = bridge_gaps(Alignment.concatenate(parts), self.aligner.max_gap)
        self.audio = plan_audio(
            self.models.whisper, self.waveform, self.sample_rate, len(self.alignment), float(self.info.fps),
            self.options.length_mode,
        )

    def _segments(self, has_face: np.ndarray, chunks: list[np.ndarray]) -> Iterator[tuple[np.ndarray, bool]]:
        """Output frame index runs in order: sampler ``chunks`` (True) and face-less runs of at most ``window`` (False)."""
        pos, m = 0, len(has_face)
        for chunk in [*chunks, None]:
            stop = m if chunk is None else int(chunk[0])
            for start in range(pos, stop, self.options.window):
                yield np.arange(start, min(stop, start + self.options.window)), False
            if chunk is not None:
                yield chunk, True
                pos = int(chunk[-1]) + 1

    def windows(self) -> Iterator[FrameWindow]:
        """The lip-synced output frames in order, at the source's frame rate from time 0."""
        from .lipsync.sampler import ChunkSampler, plan_chunks  # imports diffusers: only for lip-sync

        self.prepare()
        frame_map = self.audio.frame_map.numpy()
        out_rows = self.alignment.select(frame_map)
        m = len(frame_map)
        chunks = plan_chunks(out_rows.has_face, self.options.sampler.chunk_size)
        ticks = 1 / (self.info.fps * self.info.time_base)
        reader = _FrameReader(self.source, self.options.window)
        models = self.models
        res = self.alignment.resolution
        on_step = functools.partial(self._progress, STAGE_SAMPLE)
        with ChunkSampler(
            models.unet, models.vae, res, len(chunks), self.options.sampler, models.device, models.dtype,
            on_step, self._check_interrupt,
        ) as sampler:
            for index, is_chunk in self._segments(out_rows.has_face, chunks):
                self._interrupt()
                frames = reader.get(frame_map[index])
                rows = out_rows.rows(index)
                faces = None
                if is_chunk:
                    faces = aligned_faces(frames, rows.affines, rows.has_face, self.alignment.crop_size, res)
                    faces = sampler(faces, self.audio.embeddings(index))
                    self.faces += len(index)
                out = _finish(frames, faces, rows, self.restorer, self.options, self.background)
                pts = np.array([round(j * ticks) for j in index], dtype=np.int64)
                self.frames_out += len(index)
                yield FrameWindow(out, pts, int(index[0]))
                self._progress(STAGE_WRITE, self.frames_out, m)

    def _writer_audio(self) -> tuple[torch.Tensor, int]:
        return self.audio.waveform, self.sample_rate

    def _result(self, path: str, writer: VideoWriter) -> JobResult:
        restored = self.restorer.restored if self.restorer is not None else 0
        seconds = self.audio.waveform.shape[-1] / self.sample_rate
        return JobResult(path, writer.frames_written, len(self.alignment), self.faces, restored, self.info.fps, seconds)


def lip_sync_video(
    source: FrameSource | str | os.PathLike, waveform: torch.Tensor, sample_rate: int, output: str, models: LipSyncModels,
    aligner: FaceAligner, options: JobOptions = JobOptions(), restorers: Sequence[FaceRestorer] = (),
    background: Background | None = None, on_progress: ProgressCallback | None = None,
    check_interrupt: InterruptCheck | None = None,
) -> JobResult:
    """Lip-sync ``source`` to the speech and write ``output`` (see :class:`LipSyncJob`)."""
    job = LipSyncJob(source, waveform, sample_rate, models, aligner, options, restorers, background, on_progress, check_interrupt)
    return job.write(output)


def enhance_video(
    source: FrameSource | str | os.PathLike, output: str, aligner: FaceAligner, options: JobOptions = JobOptions(),
    restorers: Sequence[FaceRestorer] = (), background: Background | None = None,
    on_progress: ProgressCallback | None = None, check_interrupt: InterruptCheck | None = None,
) -> JobResult:
    """Restore the mouths of ``source`` and write ``output`` (see :class:`EnhanceJob`)."""
    return EnhanceJob(source, aligner, options, restorers, background, on_progress, check_interrupt).write(output)
