"""Warping a source frame into the LatentSync template crop.

Matches the reference's ``kornia.geometry.transform.warp_affine`` call
(bilinear, pixel centres at integer coordinates, border filled with 127 by
the ones-mask trick) computed in float32, followed by truncation to uint8
and a Lanczos resize to ``resolution x resolution``. Only the part of the
frame under the crop is sampled, which gives the same result as sampling
the whole frame (a 2-px margin keeps every bilinear neighbour).

The aligned faces made last are remembered by a digest of what they were made
from (:func:`aligned_face`), so pasting an edited face, which compares it with
its frame's own aligned face, does not warp and resize that face again.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache

import cv2
import numpy as np
import torch
import torch.nn.functional as F
import xxhash

from .frames import to_uint8
from .geometry import invert_affine

FILL_VALUE = 127.0
FACE_MEMORY_BYTES = 64 << 20  # aligned faces kept for the paste: 341 at 256, 85 at 512


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
    """Output pixel coordinates ``(xs, ys)``: a ``(1, out_w)`` row and an ``(out_h, 1)`` column, float64."""
    return np.arange(out_w, dtype=np.float64)[None, :], np.arange(out_h, dtype=np.float64)[:, None]


def _window_bytes(frame: np.ndarray | torch.Tensor, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """``(y1-y0, x1-x0, 3)`` uint8 values of the window (float frames rounded and clamped)."""
    if isinstance(frame, torch.Tensor):
        return to_uint8(frame[y0:y1, x0:x1])
    return np.ascontiguousarray(frame[y0:y1, x0:x1])


def _crop_window(frame: np.ndarray | torch.Tensor, affine: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, int, int, np.ndarray | None]:
    """What the crop of ``frame`` is made of: the inverse affine, the window's ``x0, y0`` and its uint8 values.

    The values are None when the window is empty or thinner than 2 px (the crop is then all fill).
    """
    out_w, out_h = size
    src_h, src_w = frame.shape[:2]
    inverse = invert_affine(affine)
    x0, y0, x1, y1 = _source_window(inverse, out_w, out_h, src_h, src_w)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return inverse, x0, y0, None
    return inverse, x0, y0, _window_bytes(frame, x0, y0, x1, y1)


def _sample_crop(window: np.ndarray | None, inverse: np.ndarray, x0: int, y0: int, size: tuple[int, int]) -> np.ndarray:
    """The ``(height, width, 3)`` uint8 crop sampled from a ``(h, w, 3)`` uint8 window at frame offset ``x0, y0``."""
    out_w, out_h = size
    if window is None:
        return np.full((out_h, out_w, 3), int(FILL_VALUE), dtype=np.uint8)
    win_h, win_w = window.shape[:2]
    # RGB and a ones channel in one pass: the ones give each pixel's in-frame coverage
    stacked = torch.empty((1, 4, win_h, win_w), dtype=torch.float32)
    stacked[0, :3] = torch.from_numpy(window).permute(2, 0, 1)
    stacked[0, 3] = 1.0
    xs, ys = _pixel_grid(out_w, out_h)
    grid = np.empty((out_h, out_w, 2), dtype=np.float32)
    along = np.empty((out_h, out_w), dtype=np.float64)
    for axis, (origin, side) in enumerate(((x0, win_w), (y0, win_h))):
        # ((a * x + b * y) + (c - origin)) * (2 / (side - 1)) - 1, evaluated in this order in float64
        np.add(inverse[axis, 0] * xs, inverse[axis, 1] * ys, out=along)
        along += inverse[axis, 2] - origin
        along *= 2.0 / (side - 1)
        along -= 1.0
        grid[..., axis] = along
    sampled = F.grid_sample(stacked, torch.from_numpy(grid)[None], mode="bilinear", padding_mode="zeros", align_corners=True)[0]
    crop = sampled[:3] + (1.0 - sampled[3:]) * FILL_VALUE
    return crop.permute(1, 2, 0).to(torch.uint8).numpy()


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
    inverse, x0, y0, window = _crop_window(frame, affine, size)
    return _sample_crop(window, inverse, x0, y0, size)


def resize_crop(crop: np.ndarray, resolution: int) -> np.ndarray:
    """Lanczos-resize a ``(h, w, 3)`` uint8 crop to ``(resolution, resolution, 3)``."""
    return cv2.resize(crop, (resolution, resolution), interpolation=cv2.INTER_LANCZOS4)


class _FaceMemory:
    """The aligned faces warped last, by a digest of everything the warp read (thread-safe, LRU).

    A key is the 128-bit hash of the window's uint8 values with the window's place,
    the exact affine, the crop size and the resolution, so a hit is the face the warp
    would make again, bit for bit. Holds at most ``max_bytes`` of faces.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._faces: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: bytes) -> np.ndarray | None:
        with self._lock:
            face = self._faces.get(key)
            if face is not None:
                self._faces.move_to_end(key)
            return face

    def put(self, key: bytes, face: np.ndarray) -> None:
        face.flags.writeable = False
        with self._lock:
            if key in self._faces:
                return
            self._faces[key] = face
            self._bytes += face.nbytes
            while self._bytes > self.max_bytes:
                _, dropped = self._faces.popitem(last=False)
                self._bytes -= dropped.nbytes

    def clear(self) -> None:
        with self._lock:
            self._faces.clear()
            self._bytes = 0


_FACE_MEMORY = _FaceMemory(FACE_MEMORY_BYTES)


def forget_aligned_faces() -> None:
    """Drop the remembered aligned faces (a benchmark's cold start; results never depend on them)."""
    _FACE_MEMORY.clear()


def _face_key(window: np.ndarray | None, affine: np.ndarray, x0: int, y0: int, crop_size: tuple[int, int], resolution: int) -> bytes:
    """16-byte digest of everything :func:`aligned_face` makes a face from (see :func:`_crop_window`)."""
    digest = xxhash.xxh3_128(np.ascontiguousarray(affine, dtype=np.float64).tobytes())
    digest.update(np.array([x0, y0, *crop_size, resolution, *(window.shape if window is not None else (0, 0, 0))], np.int64).tobytes())
    if window is not None:
        digest.update(window)
    return digest.digest()


def aligned_face(
    frame: np.ndarray | torch.Tensor, affine: np.ndarray, crop_size: tuple[int, int], resolution: int, remember: bool = True
) -> np.ndarray:
    """One frame's aligned face: :func:`warp_to_crop` then :func:`resize_crop`, made once.

    The faces made last are kept (up to ``FACE_MEMORY_BYTES``) under a digest of the
    frame window they were read from and the transform, so the paste's comparison of a
    face with its frame's own crop finds the face the aligner made instead of warping
    and resizing it again; a changed frame or transform is a new key.

    Args:
        frame: ``(H, W, 3)`` uint8 RGB, or ``[H, W, 3]`` float 0..1 tensor.
        affine: ``(2, 3)`` source pixel -> crop pixel.
        crop_size: ``(width, height)`` of the template crop.
        resolution: side of the aligned face.
        remember: keep the face for a later call (False for a face no later call asks for).

    Returns:
        ``(resolution, resolution, 3)`` uint8, read-only.
    """
    inverse, x0, y0, window = _crop_window(frame, affine, crop_size)
    key = _face_key(window, affine, x0, y0, crop_size, resolution)
    face = _FACE_MEMORY.get(key)
    if face is None:
        face = resize_crop(_sample_crop(window, inverse, x0, y0, crop_size), resolution)
        if remember:
            _FACE_MEMORY.put(key, face)
        else:
            face.flags.writeable = False
    return face


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
    out = torch.empty((len(has_face), resolution, resolution, 3))
    out[torch.from_numpy(~np.asarray(has_face, dtype=bool))] = FILL_VALUE / 255.0
    for i in np.flatnonzero(has_face):
        np.divide(aligned_face(frames[i], affines[i], crop_size, resolution), np.float32(255.0), out=out[i].numpy(), dtype=np.float32)
    return out
