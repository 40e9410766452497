"""Lip-sync a whole video without ComfyUI: align, encode the audio, sample, paste back.

This is the node graph FaceAlign -> Whisper embeds -> Sampler -> ROI paste as one
call, for scripts and tests. The output follows the audio's frame map: with the
``pingpong``/``loop`` length modes a short video is played back and forth (or
repeated) to the audio's length, with ``trim`` the longer of the two is cut.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .lipsync.audio import LengthMode, embed_audio_for_video
from .face.face_align import FaceAligner
from .face.paste import paste_back
from .lipsync.sampler import InterruptCheck, SamplerSettings, StepCallback, sample_video
from .lipsync.whisper import WhisperAudioEncoder


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
    unet: torch.nn.Module,
    vae: torch.nn.Module,
    whisper: WhisperAudioEncoder,
    aligner: FaceAligner,
    settings: SamplerSettings = SamplerSettings(),
    length_mode: LengthMode = "pingpong",
    paste_region: str = "auto",
    mask_smooth: float = 0.5,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    on_step: StepCallback | None = None,
    check_interrupt: InterruptCheck | None = None,
) -> LipSyncResult:
    """Make the face in ``frames`` speak ``waveform``.

    Args:
        frames: ``[N, H, W, C]`` float 0..1 video frames (ComfyUI IMAGE layout).
        waveform: ``[T]``, ``[C, T]`` or ``[1, C, T]`` float speech at ``sample_rate``.
        sample_rate: Hz of ``waveform``.
        fps: frame rate of the video.
        unet: LatentSync UNet on ``device`` in ``dtype`` (1.5 for a 256 aligner, 1.6 for 512).
        vae: diffusers ``AutoencoderKL`` (SD 1.x VAE) on ``device``.
        whisper: the Whisper tiny encoder (any device; features come back to the CPU).
        aligner: a fresh :class:`FaceAligner` for this video (it keeps tracking state).
        settings: sampler steps, guidance, seed, chunk size, DeepCache.
        length_mode: how audio and video lengths are matched (see ``audio.plan_length``).
        paste_region: ``"auto"`` or ``"full_face"`` (see :func:`paste_back`).
        mask_smooth: 0..1 feather of the paste mask.
        device, dtype: where and in which precision the UNet runs.
        on_step, check_interrupt: sampler progress and interrupt hooks.

    Returns:
        The lip-synced frames, the fitted audio and the frame map. Frames without
        a face are copies of their source frames, bit for bit.
    """
    aligned, alignment = aligner.align(frames)
    embeds, fitted = embed_audio_for_video(whisper, waveform, sample_rate, aligned.shape[0], fps, length_mode)
    frame_map = embeds.frame_map.numpy()
    selected = alignment.select(frame_map)
    synced = sample_video(
        unet, vae, aligned[embeds.frame_map], embeds.embeddings, has_face=selected.has_face, settings=settings,
        device=device, dtype=dtype, on_step=on_step, check_interrupt=check_interrupt,
    )
    out = paste_back(frames, synced, selected, mask_smooth=mask_smooth, region=paste_region)
    return LipSyncResult(out, fitted, frame_map)
