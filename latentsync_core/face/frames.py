"""Validation and conversion of ComfyUI-style frame batches.

Frames are ``[N, H, W, C]`` float tensors in ``0..1`` (ComfyUI IMAGE). The
face path works on the uint8 values a video decoder gives (as the reference
does), so frames are converted with rounding, which is exact for frames that
came from 8-bit video.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from ..errors import BadInputError

MIN_FACE_FRAME_SIDE = 32


def as_rgb_frames(frames: torch.Tensor, what: str = "images") -> torch.Tensor:
    """Return ``[N, H, W, 3]`` float32 frames on the CPU (a view where possible, no copy).

    Accepts a single ``[H, W, C]`` image, grayscale (C=1, repeated to RGB) and
    RGBA (C=4, alpha dropped). Anything else raises :class:`BadInputError`.
    Values are not clamped here; :func:`to_uint8` clamps.
    """
    if not isinstance(frames, torch.Tensor):
        raise BadInputError(f"{what}: expected an IMAGE tensor [N,H,W,C], got {type(frames).__name__}.")
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4:
        raise BadInputError(f"{what}: expected an IMAGE tensor [N,H,W,C], got shape {tuple(frames.shape)}.")
    if frames.shape[0] == 0:
        raise BadInputError(f"{what}: the batch is empty (0 frames); connect a video or image with at least one frame.")
    channels = frames.shape[-1]
    if channels == 1:
        frames = frames.expand(-1, -1, -1, 3)
    elif channels == 4:
        frames = frames[..., :3]
    elif channels != 3:
        raise BadInputError(
            f"{what}: expected 1 (gray), 3 (RGB) or 4 (RGBA) channels last, got {channels} (shape {tuple(frames.shape)})."
        )
    if frames.device.type != "cpu":  # a GPU IMAGE: the face work below runs on the CPU (numpy, OpenCV)
        frames = frames.cpu()
    return frames if frames.dtype == torch.float32 else frames.float()


def to_uint8(frame: torch.Tensor) -> np.ndarray:
    """``[H, W, 3]`` float 0..1 -> ``(H, W, 3)`` uint8 numpy, rounded (half to even) and clamped."""
    if frame.dtype == torch.float32 and frame.device.type == "cpu" and frame.stride()[1:] == (3, 1):
        # one OpenCV pass (float32 product, rounded half to even, saturated) instead of four tensor passes
        values = frame.numpy()
        return cv2.addWeighted(values, 255.0, values, 0.0, 0.0, dtype=cv2.CV_8U)
    scaled = frame * 255.0
    return scaled.round_().clamp_(0.0, 255.0).to(torch.uint8).cpu().numpy()


def check_same_length(n_frames: int, n_alignment: int, what: str) -> None:
    """Raise when a frame batch and its alignment disagree in length."""
    if n_frames != n_alignment:
        raise BadInputError(
            f"{what}: {n_frames} frames but the alignment covers {n_alignment}; "
            "connect the alignment made from these same frames."
        )
