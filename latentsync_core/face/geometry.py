"""LatentSync face-template geometry: template points, crop size, similarity fit.

The template and the fit follow LatentSync's ``AlignRestore`` (three points:
image-left brow mean, image-right brow mean, nose mean). The fit is a
Procrustes similarity in float64 on points normalised by their (unbiased)
standard deviation, and the reference's smoothing adds an exponential moving
average of the normalised nose offset to the translation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_TEMPLATE_AT_256 = np.array([[17.0, 20.0], [58.0, 20.0], [37.5, 40.0]])
_CROP_AT_UNIT = (75, 100)
REFERENCE_SMOOTHING = 0.2
SUPPORTED_RESOLUTIONS = (256, 512)


def template_scale(resolution: int) -> float:
    """Scale of the 256-px template: ``resolution / 256 * 2.8``."""
    return resolution / 256 * 2.8


def face_template(resolution: int) -> np.ndarray:
    """``(3, 2)`` float64 template points in crop pixels for ``resolution``."""
    return _TEMPLATE_AT_256 * template_scale(resolution)


def crop_size(resolution: int) -> tuple[int, int]:
    """``(width, height)`` of the template crop: (210, 280) at 256, (420, 560) at 512."""
    scale = template_scale(resolution)
    return int(_CROP_AT_UNIT[0] * scale), int(_CROP_AT_UNIT[1] * scale)


@dataclass(frozen=True)
class SimilarityFit:
    """A fitted source->crop similarity transform.

    Attributes:
        matrix: ``(2, 3)`` float64, source pixel -> crop pixel, smoothing applied.
        nose_offset: ``(2,)`` the smoothed normalised nose offset, state for the next frame.
    """

    matrix: np.ndarray
    nose_offset: np.ndarray


def fit_similarity(
    points: np.ndarray,
    template: np.ndarray,
    previous_offset: np.ndarray | None = None,
    smoothing: float = REFERENCE_SMOOTHING,
) -> SimilarityFit | None:
    """Fit the similarity that maps ``points`` onto ``template``.

    Args:
        points: ``(3, 2)`` source-pixel anchors (left brow, right brow, nose).
        template: ``(3, 2)`` crop-pixel template (:func:`face_template`).
        previous_offset: the previous frame's ``nose_offset`` within the same
            shot, or None at a shot start.
        smoothing: weight of the previous offset in the moving average
            (the reference uses 0.2; 0 keeps only the current frame's offset).

    Returns:
        The fit, or None when the points are degenerate (std < 1e-6, not
        finite, overflowing) or the SVD does not converge.
    """
    src = np.asarray(points, dtype=np.float64)
    dst = np.asarray(template, dtype=np.float64)
    if src.shape != dst.shape or not np.all(np.isfinite(src)):
        return None
    src_centre = src.mean(axis=0)
    dst_centre = dst.mean(axis=0)
    src_std = (src - src_centre).std(ddof=1)
    dst_std = (dst - dst_centre).std(ddof=1)
    if not src_std > 1e-6:
        return None
    src_norm = (src - src_centre) / src_std
    dst_norm = (dst - dst_centre) / dst_std
    try:
        u, _, vh = np.linalg.svd(src_norm.T @ dst_norm)
    except np.linalg.LinAlgError:
        return None
    v = vh.T
    rotation = v @ u.T
    if np.linalg.det(rotation) < 0:
        v[:, -1] = -v[:, -1]
        rotation = v @ u.T
    scale = dst_std / src_std
    translation = dst_centre - scale * rotation @ src_centre
    offset = dst_norm[2] - src_norm[2]
    if previous_offset is not None:
        offset = smoothing * previous_offset + (1.0 - smoothing) * offset
    matrix = np.concatenate([scale * rotation, (translation + offset)[:, None]], axis=1)
    if not np.all(np.isfinite(matrix)) or not scale > 1e-12:
        return None
    return SimilarityFit(matrix=matrix, nose_offset=offset)


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a ``(..., 2, 3)`` affine, float64."""
    m = np.asarray(matrix, dtype=np.float64)
    linear_inv = np.linalg.inv(m[..., :2])
    return np.concatenate([linear_inv, -(linear_inv @ m[..., 2:])], axis=-1)


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map ``(..., K, 2)`` points through ``(..., 2, 3)`` affines."""
    m = np.asarray(matrix, dtype=np.float64)
    return points @ np.swapaxes(m[..., :2], -1, -2) + m[..., None, :, 2]


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes (0 when both are empty)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
