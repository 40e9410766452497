"""A streamed lip-sync of several speakers, each face to its own speech track (:class:`SpeakersJob`).

pass 1  every face of every source frame, linked into tracks within shots (:class:`FaceTracker`);
        each track is described once (a face-embedding model, when one is given) and given to the
        speaker whose reference it matches, shot by shot; a position reference (frame, index from
        the left) names its track directly. One :class:`Alignment` per speaker (for the paste).
audio   the tracks at one rate, channel count and length (the longest); Whisper encodes each once
        (:func:`plan_audio`, the same frame map for all); the sound written is their mix
        (:func:`mix_tracks`) or a given mix.
pass 2  output frames a window at a time: each speaker's faces are sampled chunk by chunk with that
        speaker's tokens only, by the speaker's own :class:`ChunkSampler` (its own generator, the
        job's seed: a speaker's faces are those a one-speaker job with the same alignment would give);
        a chunk reaching past the window is kept for the next one (at most a chunk per speaker); every
        mouth is pasted into the frame. Faces of no speaker, and frames with none, are left as decoded.

A speaker's chunk whose speech is silent (RMS below :data:`SILENCE_DBFS` over the chunk's time) is
sampled with those silent tokens (a closed mouth), never with another speaker's, or, with
``silent_speakers="untouched"``, left as it is.
"""
from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import BadInputError
from ..face.alignment import Alignment
from ..face.face_tracks import FaceTracker, Recognition, assign_speakers, speaker_boxes, speaker_tracker
from ..face.identity import FacePosition, Reference
from ..face.warp import aligned_faces
from ..lipsync.audio import AudioPlan, plan_audio
from ..media.audio_io import Audio, conform_audio
from ..media.audio_mix import common_tracks, mix_tracks
from ..media.timeline import FrameTimes
from ..media.video_io import FrameWindow, VideoWriter
from ..metrics.evaluate import FrameSource as FrameWindows
from ..metrics.pcm import waveform_to_pcm16k
from ..metrics.speakers import speakers_sync
from .hooks import STAGE_ALIGN, STAGE_SAMPLE, STAGE_WRITE, Background, InterruptCheck, ProgressCallback
from .lipsync_job import LipSyncModels
from .options import SILENCE_DBFS, JobOptions
from .sources import FrameReader, FrameSource
from .stages import paste_faces
from .streamed import JobResult, StreamedJob

if TYPE_CHECKING:
    from ..metrics.report import SpeakerSync
    from ..metrics.syncnet import SyncNet
    from ..face.aligner import FaceAligner
    from ..restorers import FaceRestorer

MAX_SPEAKERS = 8


@dataclass(frozen=True)
class Speaker:
    """One speaker: who (a reference face) and what they say.

    Attributes:
        face: an ``(H, W, 3)`` uint8 RGB image of their face (e.g. a frame grab; its largest face is
            taken), or a :class:`FacePosition` in the video (frame, index from the left).
        waveform: ``[T]`` or ``[C, T]`` float speech at ``sample_rate``.
        sample_rate: Hz.
    """

    face: Reference
    waveform: torch.Tensor
    sample_rate: int

    @property
    def position(self) -> FacePosition | None:
        return self.face if isinstance(self.face, FacePosition) else None


class SpeakersJob(StreamedJob):
    """A streamed lip-sync of 1 to :data:`MAX_SPEAKERS` speakers (see the module docstring).

    Args:
        source: a :class:`FrameSource` or a video file path.
        speakers: the :class:`Speaker` s, in order (the first is speaker 1).
        models: the loaded :class:`LipSyncModels`.
        aligner: a :class:`FaceAligner` at the UNet's resolution: its backend, ``resolution``,
            ``smoothing``, ``max_gap`` and human-face gate are used (its face selection and landmark
            cache are not: every face is found, in every frame).
        options: see :class:`JobOptions` (``silent_speakers`` too).
        recognition: the identify step; None: only position references, each naming the track it
            points at (the speaker's face is then followed only within that shot).
        mix: the sound to write instead of the speakers' mix (an :class:`Audio`).
        restorers, background, on_progress, check_interrupt: as :class:`LipSyncJob`.

    After :meth:`prepare`: ``alignments`` (one per speaker, a row per source frame), ``plans``
    (one :class:`AudioPlan` per speaker), ``assignment`` (track id -> speaker index).
    """

    def __init__(
        self, source: FrameSource | str | os.PathLike, speakers: Sequence[Speaker], models: LipSyncModels,
        aligner: FaceAligner, options: JobOptions = JobOptions(), recognition: Recognition | None = None,
        mix: Audio | None = None, restorers: Sequence[FaceRestorer] = (), background: Background | None = None,
        on_progress: ProgressCallback | None = None, check_interrupt: InterruptCheck | None = None,
    ) -> None:
        super().__init__(source, aligner, options, restorers, background, on_progress, check_interrupt)
        if not 1 <= len(speakers) <= MAX_SPEAKERS:
            raise BadInputError(f"Give 1 to {MAX_SPEAKERS} speakers, got {len(speakers)}.")
        for k, speaker in enumerate(speakers, 1):
            if speaker.position is None and recognition is None:
                raise BadInputError(
                    f"Speaker {k}'s face is an image, which needs face recognition; give their face as FRAME:INDEX."
                )
            if speaker.waveform.dim() == 3:
                raise BadInputError(f"Speaker {k}'s audio holds a batch of clips; give one clip per speaker.")
        self.speakers = list(speakers)
        tracks = common_tracks([Audio(torch.as_tensor(s.waveform).float(), s.sample_rate) for s in speakers])
        self.tracks = [t.waveform for t in tracks]
        self.sample_rate = tracks[0].sample_rate
        self.mix = conform_audio(mix.waveform, mix.sample_rate) if mix is not None else None
        self.models = models
        self.recognition = recognition
        self.tracker: FaceTracker | None = None
        self.alignments: list[Alignment] = []
        self.plans: list[AudioPlan] = []
        self.assignment: dict[int, int] = {}

    # pass 1

    def prepare(self) -> None:
        """Pass 1 (every face located and given to its speaker) and the speakers' audio plans."""
        if self.plans:
            return
        aligner = self.aligner
        references = [s.face for s in self.speakers]
        tracker = speaker_tracker(aligner.backend, references, self.recognition, aligner.max_gap, aligner.human_gate)
        total = self.info.estimated_frames() or 0
        stamps = []
        for window in self.source.windows(self.options.window):
            self._interrupt()
            tracker.add(torch.from_numpy(window.frames).float().div_(255.0))
            stamps.append(window.pts)
            self._progress(STAGE_ALIGN, len(tracker), max(total, len(tracker)))
        if not stamps:
            raise BadInputError(f"'{self.info.path}' has no video frames. Give a video with at least one frame.")
        tracker.finish()
        self.tracker = tracker
        self.assignment = assign_speakers(tracker, references, self.recognition)
        backend = getattr(aligner.backend, "name", type(aligner.backend).__name__)
        for k in range(len(self.speakers)):
            mine = {t for t, s in self.assignment.items() if s == k}
            self.alignments.append(tracker.alignment(mine, aligner.resolution, aligner.smoothing, backend))
        times = FrameTimes.from_pts(np.concatenate(stamps), self.info)
        scratch = self.scratch_dir or tempfile.gettempdir()
        for track in self.tracks:
            self.plans.append(plan_audio(
                self.models.whisper, track, self.sample_rate, len(tracker), float(self.info.fps),
                self.options.length_mode, times=times, scratch_dir=scratch, check_interrupt=self._check_interrupt,
            ))

    def close(self) -> None:
        """Remove the audio plans' temporary files (the job cannot run again after)."""
        for plan in self.plans:
            plan.close()

    # pass 2

    def _silent(self, k: int, index: np.ndarray) -> bool:
        """Whether speaker ``k``'s track is silent over the time of output frames ``index``."""
        plan = self.plans[k]
        base = float(plan.time_base) if plan.time_base is not None else 1.0 / plan.fps
        start = math.floor(float(plan.times[index[0]]) * base * self.sample_rate)
        stop = math.ceil(float(plan.times[index[-1] + 1]) * base * self.sample_rate)
        span = self.tracks[k][:, start:max(stop, start + 1)]
        if span.numel() == 0:
            return True
        rms = float(span.double().pow(2).mean().sqrt())
        return rms <= 10.0 ** (SILENCE_DBFS / 20.0)

    def windows(self) -> Iterator[FrameWindow]:
        """The lip-synced output frames in order, at the source frames' timestamps."""
        from ..lipsync.sampler import ChunkSampler, plan_chunks  # imports diffusers: only for lip-sync

        self.prepare()
        plan0 = self.plans[0]
        frame_map = plan0.frame_map.numpy()
        m = len(frame_map)
        window = self.options.window
        res = self.alignments[0].resolution
        crop = self.alignments[0].crop_size
        settings = self.options.sampler
        chunks = [plan_chunks(a.has_face[frame_map], settings.chunk_size) for a in self.alignments]
        total_steps = settings.steps * sum(len(c) for c in chunks)
        steps = {"done": 0}

        def on_step(done: int, total: int) -> None:
            steps["done"] += 1
            self._progress(STAGE_SAMPLE, steps["done"], total_steps)

        models = self.models
        samplers = [
            ChunkSampler(models.unet, models.vae, res, len(c), settings, models.device, models.dtype, on_step,
                         self._check_interrupt)
            for c in chunks
        ]
        untouched = self.options.silent_speakers == "untouched"
        reader = FrameReader(self.source, window)
        sampled: list[dict[int, torch.Tensor]] = [{} for _ in self.speakers]  # output frame -> sampled face
        next_chunk = [0] * len(self.speakers)
        for start in range(0, m, window):
            self._interrupt()
            index = np.arange(start, min(m, start + window))
            for k, speaker_chunks in enumerate(chunks):
                # every chunk of speaker k that starts in this window, sampled with speaker k's tokens only
                while next_chunk[k] < len(speaker_chunks) and speaker_chunks[next_chunk[k]][0] <= index[-1]:
                    chunk = speaker_chunks[next_chunk[k]]
                    next_chunk[k] += 1
                    if untouched and self._silent(k, chunk):
                        continue
                    frames, _ = reader.get(frame_map[chunk])
                    rows = self.alignments[k].rows(frame_map[chunk])
                    faces = aligned_faces(frames, rows.affines, rows.has_face, crop, res)
                    with samplers[k]:
                        out = samplers[k](faces, self.plans[k].embeddings(chunk))
                    sampled[k].update(zip(chunk.tolist(), out))
            frames, decoded = reader.get(frame_map[index])
            pastes = []
            for k in range(len(self.speakers)):
                have = np.array([j in sampled[k] for j in index.tolist()])
                if have.any():
                    rows = self.alignments[k].rows(frame_map[index])
                    rows = replace(rows, has_face=rows.has_face & have)
                    faces = torch.zeros((len(index), res, res, 3))
                    for i in np.flatnonzero(have):
                        faces[i] = sampled[k].pop(int(index[i]))
                    pastes.append((faces, rows))
            self.faces += sum(int(r.has_face.sum()) for _, r in pastes)
            out = paste_faces(frames, pastes, self.restorer, self.options, self.background)
            self.frames_out += len(index)
            yield FrameWindow(out, plan0.pts(index), int(index[0]), decoded)
            self._progress(STAGE_WRITE, self.frames_out, m)

    def _writer_audio(self) -> tuple[torch.Tensor, int, int]:
        n = self.plans[0].n_samples
        if self.mix is not None:
            rate = self.mix.sample_rate
            n_mix = round(n * rate / self.sample_rate)
            return self.mix.waveform[:, :n_mix], rate, n_mix
        return mix_tracks(self.tracks)[:, :n], self.sample_rate, n

    def speaker_sync(self, model: SyncNet, frames_again: FrameWindows, device: torch.device | str = "cpu") -> list[SpeakerSync]:
        """Each speaker's lip-sync scores (SyncNet LSE-C / LSE-D) after :meth:`write`: their face in the
        output against their own track (:func:`speakers_sync`, the longest run of frames their face is in).

        ``frames_again`` re-reads the output's frames, window by window.
        """
        frame_map = self.plans[0].frame_map.numpy()
        boxes = [b[frame_map] for b in speaker_boxes(self.tracker, self.assignment, len(self.speakers))]
        pcms = [waveform_to_pcm16k(track[:, :plan.n_samples].numpy(), self.sample_rate) for track, plan in zip(self.tracks, self.plans)]
        return speakers_sync(model, pcms, float(self.info.fps), boxes, frames_again, device)

    def _result(self, path: str, writer: VideoWriter) -> JobResult:
        restored = self.restorer.restored if self.restorer is not None else 0
        seconds = self.plans[0].n_samples / self.sample_rate
        return JobResult(path, writer.frames_written, len(self.tracker), self.faces, restored, self.info.fps, seconds)


def lip_sync_speakers(
    source: FrameSource | str | os.PathLike, speakers: Sequence[Speaker], output: str, models: LipSyncModels,
    aligner: FaceAligner, options: JobOptions = JobOptions(), recognition: Recognition | None = None,
    mix: Audio | None = None, restorers: Sequence[FaceRestorer] = (), background: Background | None = None,
    on_progress: ProgressCallback | None = None, check_interrupt: InterruptCheck | None = None,
) -> JobResult:
    """Lip-sync every speaker's face in ``source`` to their speech and write ``output`` (see :class:`SpeakersJob`)."""
    job = SpeakersJob(source, speakers, models, aligner, options, recognition, mix, restorers, background,
                      on_progress, check_interrupt)
    return job.write(output)
