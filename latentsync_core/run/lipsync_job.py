"""A streamed lip-sync of a video to new speech (:class:`LipSyncJob`): align, encode the audio, sample, restore, paste."""
from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np
import torch

from ..errors import BadInputError
from ..face.alignment import Alignment
from ..face.aligner import bridge_gaps
from ..face.warp import aligned_faces
from ..lipsync.audio import AudioPlan, plan_audio
from ..media.audio_io import conform_audio
from ..media.timeline import FrameTimes
from ..media.video_io import FrameWindow, VideoWriter
from .hooks import STAGE_ALIGN, STAGE_SAMPLE, STAGE_WRITE, Background, InterruptCheck, ProgressCallback
from .options import JobOptions
from .resume import decode_state, encode_state, module_digest, tensor_digest
from .sources import FrameReader, FrameSource
from .stages import finish_window
from .streamed import JobResult, StreamedJob

if TYPE_CHECKING:
    from ..face.aligner import FaceAligner
    from ..lipsync.whisper import WhisperAudioEncoder
    from ..restorers import FaceRestorer

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


class LipSyncJob(StreamedJob):
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
    frame, without the full landmark sets: :meth:`Alignment.for_paste`), ``audio`` (the
    :class:`AudioPlan`: frame map, timestamps, the speech; its Whisper features in a
    temporary file, so an hour of speech holds no 1.4 GB of features in RAM). :meth:`write`
    makes that file in a hidden folder in the job's work folder, else beside the output (``scratch_dir``; the system's
    temporary folder, often in RAM, when the job is run by :meth:`windows` alone) and
    removes it when it ends, however it ends; after :meth:`windows` alone, call :meth:`close`.

    Resumable (see :class:`StreamedJob`): a segment may end after any window, all at sampler chunk
    boundaries, with the sampler's random state saved, so a resumed run draws the same numbers as an
    uninterrupted one. Pass 1 and the audio plan are redone on resume (the landmark cache, when on,
    makes pass 1 cheap); the sampling redone is at most the segment that was being written.
    """

    resumable = True

    def __init__(
        self, source: FrameSource | str | os.PathLike, waveform: torch.Tensor, sample_rate: int, models: LipSyncModels,
        aligner: FaceAligner, options: JobOptions = JobOptions(), restorers: Sequence[FaceRestorer] = (),
        background: Background | None = None, on_progress: ProgressCallback | None = None,
        check_interrupt: InterruptCheck | None = None,
    ) -> None:
        super().__init__(source, aligner, options, restorers, background, on_progress, check_interrupt)
        if waveform.dim() == 3:
            if waveform.shape[0] != 1:
                raise BadInputError(
                    f"The audio holds a batch of {waveform.shape[0]} clips; give one clip (e.g. split the batch and "
                    "lip-sync each clip in its own run)."
                )
            waveform = waveform[0]
        # the sound as the output's AAC track carries it (layout, nearest AAC rate), before any model runs
        speech = conform_audio(waveform, sample_rate)
        self.waveform = speech.waveform
        self.sample_rate = speech.sample_rate
        self.models = models
        self.alignment: Alignment | None = None
        self.audio: AudioPlan | None = None
        self._checkpoint: dict[str, Any] | None = None

    def prepare(self) -> None:
        """Pass 1 (align every source frame, keeping only the alignment) and the audio plan."""
        if self.audio is not None:
            return
        total = self.info.estimated_frames() or 0
        parts: list[Alignment] = []
        stamps: list[np.ndarray] = []
        done = 0
        for window in self.source.windows(self.options.window):
            self._interrupt()
            located = self.aligner.locate(torch.from_numpy(window.frames).float().div_(255.0))
            parts.append(located.for_paste())  # kept for every frame of the video: only what the paste needs
            stamps.append(window.pts)
            done += len(window)
            self._progress(STAGE_ALIGN, done, max(total, done))
        if not parts:
            raise BadInputError(f"'{self.info.path}' has no video frames. Give a video with at least one frame.")
        self.alignment = bridge_gaps(Alignment.concatenate(parts), self.aligner.max_gap)
        times = FrameTimes.from_pts(np.concatenate(stamps), self.info)  # a variable frame rate keeps its timing
        self.audio = plan_audio(
            self.models.whisper, self.waveform, self.sample_rate, len(self.alignment), float(self.info.fps),
            self.options.length_mode, times=times, scratch_dir=self.scratch_dir or tempfile.gettempdir(),
            check_interrupt=self._check_interrupt,
        )

    def close(self) -> None:
        """Remove the audio plan's temporary files (the job cannot run again after)."""
        if self.audio is not None:
            self.audio.close()

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

    def fingerprint(self) -> dict[str, Any] | None:
        """:meth:`StreamedJob.fingerprint` with the speech, the models, the device and the face settings."""
        base = super().fingerprint()
        if base is None:
            return None
        models, aligner = self.models, self.aligner
        nets = [module_digest(getattr(r, "net", r)) for r in (self.restorer.nets if self.restorer else ())]
        face = {k: getattr(aligner, k, None) for k in ("resolution", "selection", "face_index", "smoothing", "max_gap")}
        return {**base, "speech": tensor_digest(self.waveform), "sample_rate": self.sample_rate,
                "models": [module_digest(models.unet), module_digest(models.vae), module_digest(models.whisper)],
                "device": torch.device(models.device).type, "dtype": str(models.dtype), "restorers": nets,
                "background": None if self.background is None else module_digest(self.background),
                "face": {**face, "backend": type(aligner.backend).__name__}}

    def checkpoint(self) -> dict[str, Any] | None:
        """The state after the last window yielded: the next output segment and the sampler's random state."""
        return self._checkpoint

    def windows(self, resume: dict[str, Any] | None = None) -> Iterator[FrameWindow]:
        """The lip-synced output frames in order, at the source frames' timestamps (see :meth:`AudioPlan.pts`);
        with ``resume`` (a :meth:`checkpoint`), only those after it."""
        from ..lipsync.sampler import ChunkSampler, plan_chunks  # imports diffusers: only for lip-sync

        # 1. pass 1 and the audio plan: every source frame located, Whisper features, the frame map
        self.prepare()
        # 2. the output frames' alignment rows and the sampler's chunks over their face runs
        frame_map = self.audio.frame_map.numpy()
        has_face = self.alignment.has_face[frame_map]
        m = len(frame_map)
        chunks = plan_chunks(has_face, self.options.sampler.chunk_size)
        reader = FrameReader(self.source, self.options.window)
        models = self.models
        res = self.alignment.resolution
        on_step = functools.partial(self._progress, STAGE_SAMPLE)
        with ChunkSampler(
            models.unet, models.vae, res, len(chunks), self.options.sampler, models.device, models.dtype,
            on_step, self._check_interrupt,
        ) as sampler:
            skip = 0
            if resume is not None:
                skip, sampler.done = resume["next"], resume["steps_done"]
                sampler.generator.set_state(decode_state(resume["random_state"]))
            for number, (index, is_chunk) in enumerate(self._segments(has_face, chunks)):
                if number < skip:
                    continue
                self._interrupt()
                # 3. the segment's source frames, read again (a bounded cache; pingpong reads backwards)
                frames, decoded = reader.get(frame_map[index])
                rows = self.alignment.rows(frame_map[index])
                faces = None
                if is_chunk:  # 4. aligned faces -> sampled with the segment's audio features
                    faces = aligned_faces(frames, rows.affines, rows.has_face, self.alignment.crop_size, res)
                    faces = sampler(faces, self.audio.embeddings(index))
                    self.faces += len(index)
                # 5. background step, restore where the mouth crop was enlarged, paste only what changed
                out = finish_window(frames, faces, rows, self.restorer, self.options, self.background)
                # 6. out at the source frames' timestamps (the length mode's timeline, from time 0)
                pts = self.audio.pts(index)
                self.frames_out += len(index)
                self._checkpoint = {"next": number + 1, "steps_done": sampler.done,
                                    "random_state": encode_state(sampler.generator.get_state())}
                yield FrameWindow(out, pts, int(index[0]), decoded)
                self._progress(STAGE_WRITE, self.frames_out, m)

    def _writer_audio(self) -> tuple[torch.Tensor, int, int]:
        return self.audio.speech, self.sample_rate, self.audio.n_samples  # padded with silence as it is written

    def _result(self, path: str, writer: VideoWriter) -> JobResult:
        restored = self.restorer.restored if self.restorer is not None else 0
        seconds = self.audio.n_samples / self.sample_rate
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
