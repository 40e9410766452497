"""Lip-sync a whole video held in memory: align, encode the audio, sample, restore, paste back.

The in-memory form of :class:`~latentsync_core.run.lipsync_job.LipSyncJob`, made of the same
steps (the node graph FaceAlign -> Whisper embeds -> Sampler -> ROI paste as one
call), for scripts and the parity tests: the streamed job gives the same frames
for the same seed. It holds every frame; use the job for long videos. The output
follows the audio's frame map: with the ``pingpong``/``loop`` length modes a
short video is played back and forth (or repeated) to the audio's length, with
``trim`` the longer of the two is cut.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from ..face.aligner import FaceAligner
from ..lipsync.audio import embed_audio_for_video
from ..lipsync.sampler import InterruptCheck, StepCallback, sample_video
from .lipsync_job import LipSyncModels
from .options import JobOptions
from .stages import MouthRestorer, follow_frame_map, restore_and_paste

if TYPE_CHECKING:
    from ..restorers import FaceRestorer


@dataclass(frozen=True)
class LipSyncResult:
    """Output of :func:`lip_sync`.

    Attributes:
        frames: ``[M, H, W, 3]`` float32 0..1, one frame per output frame.
        waveform: the new audio cut or zero-padded to ``M / fps`` seconds, in the
            input waveform's layout and sample rate.
        frame_map: ``(M,)`` int64, the source video frame of each output frame.
    """

    frames: torch.Tensor
    waveform: torch.Tensor
    frame_map: np.ndarray


def lip_sync(
    frames: torch.Tensor,
    waveform: torch.Tensor,
    sample_rate: int,
    fps: float,
    models: LipSyncModels,
    aligner: FaceAligner,
    options: JobOptions = JobOptions(),
    restorers: Sequence[FaceRestorer] = (),
    on_step: StepCallback | None = None,
    check_interrupt: InterruptCheck | None = None,
) -> LipSyncResult:
    """Make the face in ``frames`` speak ``waveform``.

    Args:
        frames: ``[N, H, W, C]`` float 0..1 video frames (ComfyUI IMAGE layout).
        waveform: ``[T]``, ``[C, T]`` or ``[1, C, T]`` float speech at ``sample_rate``.
        sample_rate: Hz of ``waveform``.
        fps: frame rate of the video.
        models: the UNet, VAE and Whisper encoder, and where the UNet runs.
        aligner: a fresh :class:`FaceAligner` for this video (it keeps tracking state).
        options: sampler settings, length mode, restore and paste options (see :class:`JobOptions`).
        restorers: GFPGAN / CodeFormer networks for the mouth (empty: none).
        on_step, check_interrupt: sampler progress and interrupt hooks.

    Returns:
        The lip-synced frames, the fitted audio and the frame map. Frames without
        a face are copies of their source frames, bit for bit.
    """
    options.validate()
    aligned, alignment = aligner.align(frames)
    embeds, fitted = embed_audio_for_video(
        models.whisper, waveform, sample_rate, aligned.shape[0], fps, options.length_mode
    )
    frame_map = embeds.frame_map.numpy()
    faces, selected = follow_frame_map(aligned, alignment, frame_map)
    synced = sample_video(
        models.unet, models.vae, faces, embeds.embeddings, has_face=selected.has_face,
        settings=options.sampler, device=models.device, dtype=models.dtype, on_step=on_step,
        check_interrupt=check_interrupt,
    )
    restorer = MouthRestorer.from_options(restorers, options, check_interrupt)
    out = restore_and_paste(frames, synced, selected, restorer, options)
    return LipSyncResult(out, fitted, frame_map)
