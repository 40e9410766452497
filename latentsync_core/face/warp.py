"""Warping a source frame into the LatentSync template crop.

Matches the reference's ``kornia.geometry.transform.warp_affine`` call
(bilinear, pixel centres at integer coordinates, border filled with 127 by
the ones-mask trick) computed in float32, followed by truncation to uint8
and a Lanczos resize to ``resolution x resolution``. Only the part of the
frame under the crop is sampled, which gives the same result as sampling
the whole frame (a 2-px margin keeps every bilinear neighbour).
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .geometry import invert_affine

FILL_VALUE = 127.0


def _source_window(inverse: np.ndarray, out_w: int, out_h: int, src_h: int, src_w: int) -> tuple[int, int, int, int]:
    """Bounding box ``x0, y0, x1, y1`` (exclusive) of the crop's footprint in the frame."""
    corners = np.array([[0, 0], [out_w - 1, 0], [0, out_h - 1], [out_w - 1, out_h - 1]], dtype=np.float64)
    mapped = corners @ inverse[:, :2].T + inverse[:, 2]
    x0 = int(np.clip(np.floor(mapped[:, 0].min()) - 2, 0, src_w))
    y0 = int(np.clip(np.floor(mapped[:, 1].min()) - 2, 0, src_h))
    x1 = int(np.clip(np.ceil(mapped[:, 0].max()) + 3, 0, src_w))
    y1 = int(np.clip(np.ceil(mapped[:, 1].max()) + 3, 0, src_h))
    return x0, y0, x1, y1


@lru_cache(maxsize=4)
def _pixel_grid(out_w: int, out_h: int) -> tuple[np.ndarray, np.ndarray]:
    """Output pixel coordinates ``(xs, ys)``, each ``(out_h, out_w)`` float64."""
    ys, xs = np.meshgrid(np.arange(out_h, dtype=np.float64), np.arange(out_w, dtype=np.float64), indexing="ij")
    return xs, ys


def _window_values(frame: np.ndarray | torch.Tensor, x0: int, y0: int, x1: int, y1: int) -> torch.Tensor:
    """``[3, y1-y0, x1-x0]`` float32 holding the window's 0..255 integer values."""
    if isinstance(frame, torch.Tensor):
        return (frame[y0:y1, x0:x1].float() * 255.0).round().clamp(0.0, 255.0).permute(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(frame[y0:y1, x0:x1])).permute(2, 0, 1).float()


def warp_to_crop(frame: np.ndarray | torch.Tensor, affine: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Warp one frame into the template crop.

    Args:
        frame: ``(H, W, 3)`` uint8 RGB source frame, or ``[H, W, 3]`` float
            0..1 tensor (rounded to 8-bit values; only the window is read).
        affine: ``(2, 3)`` source pixel -> crop pixel.
        size: ``(width, height)`` of the crop.

    Returns:
        ``(height, width, 3)`` uint8 crop, border filled with 127, values
        truncated (not rounded) as the reference does.
    """
    out_w, out_h = size
    src_h, src_w = frame.shape[:2]
    inverse = invert_affine(affine)
    x0, y0, x1, y1 = _source_window(inverse, out_w, out_h, src_h, src_w)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.full((out_h, out_w, 3), int(FILL_VALUE), dtype=np.uint8)
    window = _window_values(frame, x0, y0, x1, y1)
    # RGB and a ones channel in one pass: the ones give each pixel's in-frame coverage
    stacked = torch.cat([window, torch.ones_like(window[:1])])[None]
    xs, ys = _pixel_grid(out_w, out_h)
    grid = np.empty((out_h, out_w, 2), dtype=np.float32)
    grid[..., 0] = (inverse[0, 0] * xs + inverse[0, 1] * ys + (inverse[0, 2] - x0)) * (2.0 / (x1 - x0 - 1)) - 1.0
    grid[..., 1] = (inverse[1, 0] * xs + inverse[1, 1] * ys + (inverse[1, 2] - y0)) * (2.0 / (y1 - y0 - 1)) - 1.0
    sampled = F.grid_sample(stacked, torch.from_numpy(grid)[None], mode="bilinear", padding_mode="zeros", align_corners=True)[0]
    crop = sampled[:3] + (1.0 - sampled[3:]) * FILL_VALUE
    return crop.permute(1, 2, 0).numpy().astype(np.uint8)


def resize_crop(crop: np.ndarray, resolution: int) -> np.ndarray:
    """Lanczos-resize a ``(h, w, 3)`` uint8 crop to ``(resolution, resolution, 3)``."""
    return cv2.resize(crop, (resolution, resolution), interpolation=cv2.INTER_LANCZOS4)


def aligned_faces(
    frames: np.ndarray | torch.Tensor, affines: np.ndarray, has_face: np.ndarray, crop_size: tuple[int, int], resolution: int
) -> torch.Tensor:
    """Warp the face frames of a batch to aligned faces.

    Args:
        frames: ``(N, H, W, 3)`` uint8 RGB, or ``[N, H, W, 3]`` float 0..1 tensor.
        affines: ``(N, 2, 3)`` source pixel -> crop pixel.
        has_face: ``(N,)`` bool; other frames are filled with ``FILL_VALUE``.
        crop_size: ``(width, height)`` of the template crop.
        resolution: side of the aligned faces.

    Returns:
        ``[N, resolution, resolution, 3]`` float32 0..1 (uint8-valued).
    """
    out = torch.full((len(has_face), resolution, resolution, 3), FILL_VALUE / 255.0)
    for i in np.flatnonzero(has_face):
        crop = warp_to_crop(frames[i], affines[i], crop_size)
        out[i] = torch.from_numpy(resize_crop(crop, resolution)).float() / 255.0
    return out
