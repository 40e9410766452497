"""Anchor points (brow means, nose mean) and boxes from a backend's landmark indices.

Calibration of the MediaPipe mapping (``bench/calibrate_anchors.py``). LatentSync
was trained on faces aligned with InsightFace's 106 points, whose weights are not
available offline; dlib's 68-point predictor (``face-recognition-models``) stands
in for them, with its anchors at the same anatomical places: brows = mean of the
68-point brow slots 17-21 / 22-26 (where LatentSync puts InsightFace's brow picks),
nose = mean of 29, 30, 31, 35 (lower bridge, tip, nostril wings, as InsightFace's
74, 86, 77, 83; the mean of all nose points 27-35 would add the upper bridge and
sit 5-6 px higher). On the astronaut and Grace Hopper photos, each also mirrored,
MediaPipe minus dlib in template pixels at 256 (mean +- sd over the four):

=================  ============================  ============================  ==========================
mapping            left brow (x, y)              right brow (x, y)             nose (x, y)
=================  ============================  ============================  ==========================
upper brow only    -1.8 +- 1.0, -3.1 +- 1.7      +0.5 +- 1.4, -3.6 +- 0.6      -0.2 +- 1.4, +1.4 +- 2.9
calibrated         -0.2 +- 0.9, -0.0 +- 1.7      -1.0 +- 1.3, -0.5 +- 0.6      same
=================  ============================  ============================  ==========================

The upper brow contour sat about 3.4 px above dlib's brows on every photo, so the
brows now average the upper and lower contour (rms distance 4.0 -> 1.9 px). The
nose is left as is: its mean offset (+1.4 px down) is half its spread between
photos (2.9 px) and within what the choice of dlib's lower nose pair (31/35 vs
32/34) moves it (up to 1.5 px). Residual: about 2 px rms per anchor, the size of
the two models' disagreement between a photo and its mirror image.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AnchorIndices:
    """Which landmarks of one scheme make up the three template anchors and the mouth.

    Attributes:
        left_brow: indices averaged into the image-left brow point (the subject's right
            brow in an upright, unmirrored face).
        right_brow: indices averaged into the image-right brow point.
        nose: indices averaged into the nose point.
        mouth: the outer lip contour in ring order, or (``mouth_is_ring=False``) lip
            points in no known order whose convex hull is used instead.
        mouth_is_ring: whether ``mouth`` is already an ordered outer-lip ring.
    """

    left_brow: tuple[int, ...]
    right_brow: tuple[int, ...]
    nose: tuple[int, ...]
    mouth: tuple[int, ...]
    mouth_is_ring: bool = True

    def anchors(self, points: np.ndarray, round_like_reference: bool = False) -> np.ndarray:
        """``(3, 2)`` float64 anchors of ``points`` ``(K, 2)``.

        With ``round_like_reference`` the landmarks are rounded to whole pixels before
        averaging and the means are rounded again, as LatentSync does.
        """
        pts = np.round(points) if round_like_reference else np.asarray(points, dtype=np.float64)
        means = np.stack([pts[list(group)].mean(axis=0) for group in (self.left_brow, self.right_brow, self.nose)])
        return np.round(means) if round_like_reference else means


    def mouth_contour(self, points: np.ndarray) -> np.ndarray:
        """``(M, 2)`` float64 outer lip contour: the ring itself, or ``len(mouth)`` points on the hull."""
        lips = np.asarray(points, dtype=np.float64)[list(self.mouth)]
        return lips if self.mouth_is_ring else hull_ring(lips, len(self.mouth))


def hull_ring(points: np.ndarray, count: int) -> np.ndarray:
    """``(count, 2)`` float64 points evenly spaced along the convex hull of ``points`` ``(K, 2)``.

    The ring starts at the hull vertex with the smallest x (ties: smallest y) and runs
    clockwise on screen (x right, y down). Used as the outer lip outline when a scheme's
    lip points are not known to be in ring order.
    """
    pts = np.asarray(points, dtype=np.float64)
    hull = pts[cv2.convexHull(pts.astype(np.float32), returnPoints=False).reshape(-1)]
    start = np.lexsort((hull[:, 1], hull[:, 0]))[0]
    hull = np.roll(hull, -start, axis=0)
    if _signed_area(hull) < 0:
        hull = np.concatenate([hull[:1], hull[1:][::-1]])
    closed = np.concatenate([hull, hull[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    if arc[-1] == 0:
        return np.repeat(hull[:1], count, axis=0)
    targets = np.arange(count) * (arc[-1] / count)
    return np.stack([np.interp(targets, arc, closed[:, 0]), np.interp(targets, arc, closed[:, 1])], axis=1)


def _signed_area(ring: np.ndarray) -> float:
    """Shoelace area of a polygon; positive when clockwise on screen (y down)."""
    x, y = ring[:, 0], ring[:, 1]
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def extent_box(points: np.ndarray) -> np.ndarray:
    """``(4,)`` float64 ``x1, y1, x2, y2`` bounding the ``(K, 2)`` points."""
    return np.concatenate([points.min(axis=0), points.max(axis=0)]).astype(np.float64)
