"""One evaluation of a processed video: alignment, image metrics, then SyncNet over the longest face track.

Frames arrive window by window (memory does not grow with the video); the
lip-sync score needs a second pass over the frames, because the reference
smooths the face boxes over the whole track before cutting the crops.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import BadInputError
from ..face.alignment import Alignment
from ..face.frames import as_rgb_frames
from .image_quality import ImageQualityMeter
from .report import QualityReport, SyncResult
from .sync_eval import (
    BATCH_SIZE, FPS, SAMPLES_PER_FRAME, WINDOW, LipEmbedder, embed_audio, face_crop, offset_scores, smooth_track, window_count,
)
from .syncnet import SyncNet

if TYPE_CHECKING:
    from ..face.landmarks.base import LandmarkBackend
    from .speakers import SpeakerSpeech

#: Re-reads the video: yields its ``(n, H, W, 3)`` uint8 RGB frames in order, window by window.
FrameSource = Callable[[], Iterable[np.ndarray]]


def resample_index(n_frames: int, fps: float, target: float = FPS) -> np.ndarray:
    """``(M,)`` source frame shown at each ``1/target`` s step (nearest frame, as ``ffmpeg -r 25`` picks)."""
    steps = np.arange(int(np.ceil(n_frames * target / fps)) + 1)
    index = np.floor(steps * fps / target + 0.5).astype(np.int64)
    return index[index < n_frames]


def longest_run(mask: np.ndarray) -> tuple[int, int]:
    """``start, stop`` of the longest run of True in ``mask`` (``0, 0`` when none)."""
    best, start = (0, 0), None
    for i, value in enumerate(np.append(np.asarray(mask, dtype=bool), False)):
        if value and start is None:
            start = i
        elif not value and start is not None:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    return best


def face_boxes(alignment: Alignment) -> np.ndarray:
    """``(N, 4)`` extent of each frame's landmarks (NaN where no face)."""
    boxes = np.full((len(alignment), 4), np.nan)
    pts = alignment.landmarks
    if pts.shape[1] == 0:
        return boxes
    known = alignment.has_face & np.all(np.isfinite(pts), axis=(1, 2))
    boxes[known] = np.concatenate([pts[known].min(axis=1), pts[known].max(axis=1)], axis=1)
    return boxes


class QualityEvaluator:
    """Collects the metrics of one video.

    Args:
        fps: frame rate of the video.
        align: frames -> alignment, used when :meth:`add` gets none
            (e.g. ``lambda f: aligner.align(f)[1]`` with a fresh ``FaceAligner``).
    """

    def __init__(self, fps: float, align: Callable[[torch.Tensor], Alignment] | None = None) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = float(fps)
        self._align = align
        self._meter = ImageQualityMeter()
        self._boxes: list[np.ndarray] = []
        self._has_face: list[np.ndarray] = []

    def add(self, frames: np.ndarray, source: np.ndarray | None = None, alignment: Alignment | None = None) -> None:
        """Measure the next ``(n, H, W, 3)`` uint8 RGB frames.

        Args:
            frames: the video's next frames.
            source: the matching source frames, or None; a shorter window (the
                source ended) covers only the first frames, extra source frames are ignored.
            alignment: the frames' alignment (``n`` rows), or None to align them here.
        """
        if source is not None and len(source) < len(frames):
            k = len(source)
            rows = (None, None) if alignment is None else (alignment.select(np.arange(k)), alignment.select(np.arange(k, len(frames))))
            self.add(frames[:k], source, rows[0])
            self.add(frames[k:], None, rows[1])
            return
        if not len(frames):
            return
        if alignment is None:
            if self._align is None:
                raise ValueError("QualityEvaluator.add needs an alignment or an align function")
            alignment = self._align(torch.from_numpy(frames).float().div_(255.0))
        self._meter.add(frames, alignment, None if source is None else source[:len(frames)])
        self._boxes.append(face_boxes(alignment))
        self._has_face.append(alignment.has_face & np.all(np.isfinite(self._boxes[-1]), axis=1))

    @property
    def frames(self) -> int:
        return int(sum(len(h) for h in self._has_face))

    def score_sync(
        self,
        model: SyncNet,
        pcm16k: np.ndarray,
        frames_again: FrameSource,
        device: torch.device | str = "cpu",
        batch_size: int = BATCH_SIZE,
    ) -> tuple[SyncResult | None, str | None]:
        """LSE-C / LSE-D / offset of the longest face track at 25 fps (second pass over the frames).

        Returns:
            The result, or None and why it could not be measured.
        """
        has_face = np.concatenate(self._has_face) if self._has_face else np.zeros(0, bool)
        boxes = np.concatenate(self._boxes) if self._boxes else np.zeros((0, 4))
        return track_sync(model, pcm16k, self.fps, has_face, boxes, frames_again, device, batch_size)

    def report(self, sync: SyncResult | None, sync_note: str | None) -> QualityReport:
        return QualityReport(frames=self.frames, fps=self.fps, sync=sync, sync_note=sync_note, image=self._meter.result())


def track_sync(
    model: SyncNet,
    pcm16k: np.ndarray,
    fps: float,
    has_face: np.ndarray,
    boxes: np.ndarray,
    frames_again: FrameSource,
    device: torch.device | str = "cpu",
    batch_size: int = BATCH_SIZE,
) -> tuple[SyncResult | None, str | None]:
    """LSE-C / LSE-D / offset of the longest run of ``has_face`` at 25 fps, its crops cut around ``boxes``.

    Args:
        has_face: ``(N,)`` bool per frame of the video; boxes: ``(N, 4)`` ``x0, y0, x1, y1`` of the face
            (e.g. one speaker's face in each frame); pcm16k: the speech to score it against.

    Returns:
        The result, or None and why it could not be measured.
    """
    index = resample_index(len(has_face), fps)
    start, stop = longest_run(has_face[index])
    audio = np.asarray(pcm16k)[start * SAMPLES_PER_FRAME:]
    windows = window_count(stop - start, len(audio))
    if windows < 1:
        return None, f"needs {WINDOW + 1}+ consecutive face frames at 25 fps with audio (longest track: {stop - start})"
    track = index[start:stop]
    smoothed = smooth_track(boxes[track])
    needed = windows + WINDOW - 1
    lips = LipEmbedder(model, windows, batch_size, device)
    offset, fed = 0, 0
    for window in frames_again():
        lo = np.searchsorted(track[:needed], offset)
        hi = np.searchsorted(track[:needed], offset + len(window))
        if hi > lo:
            lips.add(np.stack([face_crop(window[track[j] - offset], *smoothed[j]) for j in range(lo, hi)]))
            fed = hi
        offset += len(window)
        if fed >= needed:
            break
    scores = offset_scores(lips.finish(), embed_audio(model, audio, windows, batch_size, device))
    return SyncResult(scores, int(track[0]), int(track[-1])), None


def _uint8_windows(frames: torch.Tensor, window: int) -> Iterable[np.ndarray]:
    """``[N, H, W, 3]`` float 0..1 frames as ``(n, H, W, 3)`` uint8 windows (only one converted at a time)."""
    for start in range(0, frames.shape[0], window):
        yield frames[start:start + window].mul(255.0).round_().clamp_(0, 255).to(torch.uint8).cpu().numpy()


def evaluate_frames(
    frames: torch.Tensor,
    fps: float,
    align: Callable[[torch.Tensor], Alignment] | None = None,
    alignment: Alignment | None = None,
    source: torch.Tensor | None = None,
    model: SyncNet | None = None,
    pcm16k: np.ndarray | None = None,
    sync_note: str | None = None,
    device: torch.device | str = "cpu",
    window: int = 32,
    speakers: Sequence[SpeakerSpeech] = (),
    backend: LandmarkBackend | None = None,
) -> QualityReport:
    """The quality report of in-memory frames (the ComfyUI node's path).

    Args:
        frames: ``[N, H, W, C]`` float 0..1 video frames (gray and RGBA are accepted).
        fps: their frame rate.
        align: frames -> alignment, used when ``alignment`` is None.
        alignment: the frames' alignment (``N`` rows), when already known.
        source: ``[M, H, W, 3]`` original frames; frame ``i`` is compared with frame ``i``.
        model, pcm16k: SyncNet and the 16 kHz speech; without both, sync is not measured
            and ``sync_note`` says why.
        speakers, backend: several speakers, each scored on their own face against their own speech
            (:func:`~.speakers.score_speakers`, faces found with ``backend``); needs ``model``.
    """
    if alignment is not None and len(alignment) != frames.shape[0]:
        raise BadInputError(
            f"the alignment has {len(alignment)} rows but there are {frames.shape[0]} frames; "
            "connect the alignment made for these frames (e.g. the sampler's)."
        )
    if source is not None and tuple(source.shape[1:3]) != tuple(frames.shape[1:3]):
        raise BadInputError(
            f"source frames are {tuple(source.shape[1:3])} but the video is {tuple(frames.shape[1:3])}; "
            "connect the original frames the video was made from."
        )
    frames = as_rgb_frames(frames)
    source = None if source is None else as_rgb_frames(source, "source")
    evaluator = QualityEvaluator(fps, align)
    sources = _uint8_windows(source, window) if source is not None else iter(())
    for start, chunk in zip(range(0, frames.shape[0], window), _uint8_windows(frames, window)):
        rows = None if alignment is None else alignment.select(np.arange(start, start + len(chunk)))
        evaluator.add(chunk, next(sources, None), rows)
    sync, again = None, lambda: _uint8_windows(frames, window)
    if model is not None and pcm16k is not None:
        sync, sync_note = evaluator.score_sync(model, pcm16k, again, device)
    report = evaluator.report(sync, sync_note)
    if speakers:
        from .speakers import score_speakers  # it imports this module

        report.speakers = score_speakers(model, speakers, fps, again, backend, device, sync_note)
    return report
