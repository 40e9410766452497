"""The per-video alignment record passed between nodes.

It holds, per frame, the similarity transform that maps source-frame pixels
to the LatentSync crop (210x280 at 256, 420x560 at 512), which frames have a
face, and the landmarks the transform came from, so later stages (mouth ROI,
paste-back) need no detector.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Alignment:
    """Alignment of ``N`` frames of one video to the LatentSync face template.

    Attributes:
        resolution: side of the aligned face image, 256 (LatentSync 1.5) or 512 (1.6).
        crop_size: ``(width, height)`` of the template crop before it is resized
            to ``resolution x resolution``: ``(210, 280)`` at 256, ``(420, 560)`` at 512.
        source_size: ``(height, width)`` of the source frames.
        affines: ``(N, 2, 3)`` float64, source pixel -> crop pixel; identity where no face.
        has_face: ``(N,)`` bool; False frames pass through every stage unchanged.
        interpolated: ``(N,)`` bool, True where a short detection dropout was bridged.
        landmarks: ``(N, K, 2)`` float64 source-pixel landmarks, NaN where unknown.
        mouth: ``(N, M, 2)`` float64 source-pixel outer-lip points, NaN where unknown.
        backend: name of the landmark backend that produced the landmarks.
    """

    resolution: int
    crop_size: tuple[int, int]
    source_size: tuple[int, int]
    affines: np.ndarray
    has_face: np.ndarray
    interpolated: np.ndarray
    landmarks: np.ndarray
    mouth: np.ndarray
    backend: str

    def __len__(self) -> int:
        return int(self.has_face.shape[0])

    def aligned_affines(self) -> np.ndarray:
        """``(N, 2, 3)`` float64 maps from source pixels to aligned-face pixels.

        The crop is resized anisotropically from ``crop_size`` to
        ``resolution x resolution`` (pixel centres: ``x' = s * (x + 0.5) - 0.5``);
        this folds that resize into each affine.
        """
        scale = np.array([self.resolution / self.crop_size[0], self.resolution / self.crop_size[1]])
        out = self.affines * scale[None, :, None]
        out[:, :, 2] += 0.5 * (scale - 1.0)
        return out
