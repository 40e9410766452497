"""The fixed mouth mask of the LatentSync face template.

LatentSync regenerates the lower face of every aligned face: a region from
just below the eyes to the chin, with a notch that keeps the nose, about 41 %
of the 256 px template. The shape is described here in code, in continuous
template coordinates of the 256 px face (pixel ``i`` spans ``[i, i + 1)``), and
rendered as a binary 256 px image; other resolutions are the 256 px image
resized with Lanczos (as LatentSync 1.6 does at 512 px), so values there lie
in ``[0, 1]`` with soft edges.

Convention: the *keep mask* is 1 where the reference face is kept and 0 in the
mouth region that is regenerated (the UNet's mask channel uses this
convention); ``1 - keep`` is the mouth region.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from ..errors import BadInputError

TEMPLATE_SIZE = 256

# Geometry of the mouth region on the 256 px template (continuous pixel units).
_TOP = 95.0  # first row of the region (just below the eyes)
_NOTCH_BOTTOM = 128.0  # the nose notch spans rows [_TOP, _NOTCH_BOTTOM) ...
_NOTCH_LEFT, _NOTCH_RIGHT = 78.0, 178.0  # ... and columns [_NOTCH_LEFT, _NOTCH_RIGHT)
_HALF_WIDTH = 119.34  # half width at the top; the sides taper inwards by _TAPER towards the chin
_TAPER = 2.46
_CENTRE_X = 127.95  # horizontal centre at the top; it drifts right by _CENTRE_DRIFT at the chin
_CENTRE_DRIFT = 4.43
_JAW_START = 152.6  # row where the jaw curve starts
_JAW_DEPTH = 91.2  # rows from the jaw start to the chin (chin at _JAW_START + _JAW_DEPTH)
_JAW_EXPONENT = 1.837  # superellipse exponent of the jaw curve (2 = ellipse)


def _mouth_region_256() -> np.ndarray:
    """``(256, 256)`` bool, True inside the mouth region of the 256 px template."""
    y, x = np.mgrid[0:TEMPLATE_SIZE, 0:TEMPLATE_SIZE].astype(np.float64) + 0.5
    chin = _JAW_START + _JAW_DEPTH
    s = np.clip((y - _TOP) / (chin - _TOP), 0.0, 1.0)
    t = np.clip((y - _JAW_START) / _JAW_DEPTH, 0.0, 1.0)
    half_width = (_HALF_WIDTH - _TAPER * s) * (1.0 - t**_JAW_EXPONENT) ** (1.0 / _JAW_EXPONENT)
    centre = _CENTRE_X + _CENTRE_DRIFT * s**4
    region = (y >= _TOP) & (y < chin) & (np.abs(x - centre) <= half_width)
    nose = (y < _NOTCH_BOTTOM) & (x >= _NOTCH_LEFT) & (x < _NOTCH_RIGHT)
    return region & ~nose


@lru_cache(maxsize=4)
def _keep_mask_cached(resolution: int) -> np.ndarray:
    keep_u8 = np.where(_mouth_region_256(), 0, 255).astype(np.uint8)
    if resolution != TEMPLATE_SIZE:
        keep_u8 = cv2.resize(keep_u8, (resolution, resolution), interpolation=cv2.INTER_LANCZOS4)
    out = keep_u8.astype(np.float32) / 255.0
    out.flags.writeable = False
    return out


def keep_mask(resolution: int = 256) -> np.ndarray:
    """The template's keep mask at ``resolution``.

    Args:
        resolution: side of the aligned face, a multiple of 8 (256 for LatentSync 1.5, 512 for 1.6).

    Returns:
        ``(resolution, resolution)`` float32 in ``[0, 1]`` (read-only): 1 where the
        reference face is kept, 0 in the mouth region. Binary at 256 px; at
        other sizes the Lanczos-resized 256 px mask (soft edges, clipped to ``[0, 1]``).
    """
    if resolution < 8 or resolution % 8 != 0:
        raise BadInputError(
            f"Face resolution {resolution} is not supported: use a multiple of 8 (256 for LatentSync 1.5, 512 for 1.6)."
        )
    return _keep_mask_cached(int(resolution))
