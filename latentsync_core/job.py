"""The streamed lip-sync job: the one place the whole pipeline is composed.

The command line (``lipsync``, ``enhance``), the streaming ComfyUI node and the
tests all run these classes; :func:`lip_sync` is the in-memory form of the same
steps (it holds every frame; the parity tests compare the two). The code lives in
:mod:`latentsync_core.run` (options, sources, stages, the two jobs, the in-memory
form); this module is the stable Python API and re-exports it.

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

- :class:`JobOptions`: every option with its default, defined once here
  (``DEFAULT_SR_RATIO`` etc. for the command line and the nodes).
- :class:`LipSyncModels`: the loaded UNet, VAE, Whisper and where they run.
- Sources: :class:`FileSource` (a video file or a :class:`TimeSpan` of it, :func:`open_source`) or
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
- :func:`lip_sync` (:class:`LipSyncResult`): the in-memory form.
- :class:`SpeakersJob` / :func:`lip_sync_speakers`: several speakers (:class:`Speaker`: a reference
  face and a speech track), each face sampled with its own speaker's tokens; :class:`Recognition`
  tells the faces apart (see :mod:`latentsync_core.run.speakers_job`).
"""
from .run.enhance_job import EnhanceJob, enhance_video
from .run.hooks import STAGE_ALIGN, STAGE_SAMPLE, STAGE_WRITE, Background, InterruptCheck, ProgressCallback
from .run.in_memory import LipSyncResult, lip_sync
from .run.lipsync_job import LipSyncJob, LipSyncModels, lip_sync_video
from .run.options import (
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
from .run.sources import FileSource, FrameSource, IterableSource, TimeSpan, open_source
from .run.speakers_job import Recognition, Speaker, SpeakersJob, lip_sync_speakers
from .run.stages import MouthRestorer, restore_and_paste
from .run.streamed import JobResult

__all__ = [
    "DEFAULT_CRF", "DEFAULT_FIDELITY", "DEFAULT_LENGTH_MODE", "DEFAULT_MASK_SMOOTH", "DEFAULT_PRESET",
    "DEFAULT_ROI_SIZE", "DEFAULT_SR_RATIO", "DEFAULT_WINDOW", "STAGE_ALIGN", "STAGE_SAMPLE", "STAGE_WRITE",
    "Background", "EnhanceJob", "FileSource", "FrameSource", "InterruptCheck", "IterableSource", "JobOptions",
    "JobResult", "LipSyncJob", "LipSyncModels", "LipSyncResult", "MouthRestorer", "ProgressCallback",
    "Recognition", "Speaker", "SpeakersJob", "TimeSpan", "enhance_video", "lip_sync", "lip_sync_speakers",
    "lip_sync_video", "open_source", "restore_and_paste",
]
