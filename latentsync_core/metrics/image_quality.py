"""Image metrics of a processed video against its source, driven by the face alignment.

* identity outside the mouth: PSNR (dB, from the squared error pooled over all
  frames) and SSIM (Wang et al. 2004: Gaussian window 11 / sigma 1.5 on 8-bit
  luma, K1 0.01, K2 0.03, averaged over the kept pixels of each frame, then
  over frames) of every pixel outside the mouth region. The mouth region is
  the mouth box (see :func:`latentsync_core.face.mouth_roi.mouth_boxes`)
  grown ``MOUTH_REGION_GROWTH`` times about its centre and mapped to the frame;
* mouth sharpness: variance of the Laplacian and gradient energy (mean squared
  Sobel magnitude) of the aligned mouth crop, 8-bit luma at 128x128;
* temporal stability: mean absolute change (0..255) of that crop between
  consecutive face frames; the result's over the source's is the flicker ratio.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..face.alignment import Alignment
from ..face.geometry import apply_affine, invert_affine
from ..face.mouth_roi import mouth_boxes, source_side

MOUTH_CROP = 128
MOUTH_REGION_GROWTH = 1.5
_SSIM_C1 = (0.01 * 255) ** 2
_SSIM_C2 = (0.03 * 255) ** 2


def luma(frame: np.ndarray) -> np.ndarray:
    """``(H, W)`` float32 BT.601 luma (0..255, rounded to integers) of an ``(H, W, 3)`` uint8 RGB frame."""
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)


def ssim_map(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM of two ``(H, W)`` float images in 0..255 (exactly 1 where they are equal)."""
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b = blur(a * a) - mu_a * mu_a, blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + _SSIM_C1) * (2 * cov + _SSIM_C2)
    den = (mu_a * mu_a + mu_b * mu_b + _SSIM_C1) * (var_a + var_b + _SSIM_C2)
    return num / den


def laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the 3x3 Laplacian of an ``(H, W)`` float image: higher is sharper."""
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def gradient_energy(gray: np.ndarray) -> float:
    """Mean of ``gx^2 + gy^2`` (3x3 Sobel) of an ``(H, W)`` float image: higher is sharper."""
    gx = cv2.Sobel(gray, cv2.CV_64F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_64F, 0, 1, ksize=3)
    return float(np.mean(gx * gx + gy * gy))


def mouth_region_polygons(alignment: Alignment, growth: float = MOUTH_REGION_GROWTH) -> np.ndarray:
    """``(N, 4, 2)`` frame-pixel corners of each frame's grown mouth box (NaN where no face)."""
    boxes = mouth_boxes(alignment)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) / 2 * growth
    signs = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64)
    corners = centre[:, None, :] + signs[None] * half[:, None, :]
    out = apply_affine(invert_affine(alignment.aligned_affines()), corners)
    out[~alignment.has_face] = np.nan
    return out


def mouth_crops(frames: np.ndarray, alignment: Alignment, size: int = MOUTH_CROP) -> np.ndarray:
    """``(N, size, size)`` float64 luma mouth crops of ``(N, H, W, 3)`` uint8 frames (zeros where no face).

    Each crop is warped at about its source resolution, then area-resized to ``size``.
    """
    boxes = mouth_boxes(alignment)
    sides = source_side(alignment, boxes)
    affines = alignment.aligned_affines()
    out = np.zeros((len(frames), size, size))
    for i in np.flatnonzero(alignment.has_face):
        native = int(np.clip(np.ceil(sides[i]), 16, 4 * size))
        scale = native / (boxes[i, 2] - boxes[i, 0])
        to_crop = np.array([[scale, 0.0, 0.0], [0.0, scale, 0.0]])
        to_crop[:, 2] = (0.5 - boxes[i, :2]) * scale - 0.5
        matrix = to_crop[:, :2] @ affines[i]
        matrix[:, 2] += to_crop[:, 2]
        crop = cv2.warpAffine(frames[i], matrix, (native, native), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        interp = cv2.INTER_AREA if native > size else cv2.INTER_CUBIC
        out[i] = luma(cv2.resize(crop, (size, size), interpolation=interp))
    return out


@dataclass
class Sharpness:
    """Mean mouth sharpness over the face frames of one video."""

    laplacian_variance: float
    gradient_energy: float


@dataclass
class ImageQuality:
    """Image metrics of a video (source-relative ones are None without a source).

    Attributes:
        frames: frames measured.
        face_frames: of those, frames with a face (sharpness and stability use only these).
        psnr: dB outside the mouth region vs the source (``inf`` when identical there).
        ssim: mean SSIM outside the mouth region vs the source.
        sharpness: of the video's mouth; ``source_sharpness`` of the source's.
        mouth_change: mean absolute frame-to-frame change of the mouth crop (0..255);
            ``source_mouth_change`` of the source's; ``stability_ratio`` result / source.
    """

    frames: int
    face_frames: int
    psnr: float | None
    ssim: float | None
    sharpness: Sharpness | None
    source_sharpness: Sharpness | None
    mouth_change: float | None
    source_mouth_change: float | None

    @property
    def stability_ratio(self) -> float | None:
        if self.mouth_change is None or not self.source_mouth_change:
            return None
        return self.mouth_change / self.source_mouth_change


@dataclass
class _Series:
    """Sharpness and frame-to-frame change of one video's mouth crops, accumulated window by window."""

    laplacian: list[float] = field(default_factory=list)
    gradient: list[float] = field(default_factory=list)
    changes: list[float] = field(default_factory=list)
    previous: np.ndarray | None = None

    def add(self, crops: np.ndarray, has_face: np.ndarray) -> None:
        for crop, face in zip(crops, has_face):
            if not face:
                self.previous = None
                continue
            self.laplacian.append(laplacian_variance(crop))
            self.gradient.append(gradient_energy(crop))
            if self.previous is not None:
                self.changes.append(float(np.mean(np.abs(crop - self.previous))))
            self.previous = crop

    def sharpness(self) -> Sharpness | None:
        if not self.laplacian:
            return None
        return Sharpness(float(np.mean(self.laplacian)), float(np.mean(self.gradient)))

    def change(self) -> float | None:
        return float(np.mean(self.changes)) if self.changes else None


class ImageQualityMeter:
    """Accumulates :class:`ImageQuality` over consecutive windows of a video (and its source)."""

    def __init__(self) -> None:
        self._result = _Series()
        self._source = _Series()
        self._frames = 0
        self._faces = 0
        self._sq_error = 0.0
        self._pixels = 0
        self._ssim: list[float] = []

    def add(self, frames: np.ndarray, alignment: Alignment, source: np.ndarray | None = None) -> None:
        """Measure one window.

        Args:
            frames: ``(n, H, W, 3)`` uint8 RGB frames of the processed video.
            alignment: their alignment (``n`` rows).
            source: the matching ``(n, H, W, 3)`` uint8 source frames, or None.
        """
        self._frames += len(frames)
        self._faces += int(alignment.has_face.sum())
        self._result.add(mouth_crops(frames, alignment), alignment.has_face)
        if source is None:
            return
        self._source.add(mouth_crops(source, alignment), alignment.has_face)
        polygons = mouth_region_polygons(alignment)
        for frame, src, poly, face in zip(frames, source, polygons, alignment.has_face):
            keep = np.ones(frame.shape[:2], dtype=np.uint8)
            if face:
                cv2.fillConvexPoly(keep, np.round(poly).astype(np.int32), 0)
            kept = keep.astype(bool)
            diff = frame.astype(np.int32) - src.astype(np.int32)
            self._sq_error += float(np.sum((diff * diff)[kept], dtype=np.int64))
            self._pixels += int(kept.sum()) * frame.shape[2]
            if kept.any():
                self._ssim.append(float(ssim_map(luma(frame), luma(src))[kept].mean(dtype=np.float64)))

    def result(self) -> ImageQuality:
        psnr = None
        if self._pixels:
            mse = self._sq_error / self._pixels
            psnr = float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))
        return ImageQuality(
            frames=self._frames,
            face_frames=self._faces,
            psnr=psnr,
            ssim=float(np.mean(self._ssim)) if self._ssim else None,
            sharpness=self._result.sharpness(),
            source_sharpness=self._source.sharpness(),
            mouth_change=self._result.change(),
            source_mouth_change=self._source.change(),
        )
