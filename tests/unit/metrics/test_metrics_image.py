"""Image metrics on constructed cases: frames of tests/data/astronaut.png aligned by MediaPipe,
then left alone, changed only inside the mouth, changed outside it, blurred at the mouth, or
made to flicker at the mouth."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from latentsync_core.face.aligner import FaceAligner
from latentsync_core.face.landmarks import get_backend
from latentsync_core.metrics.image_quality import ImageQualityMeter, gradient_energy, laplacian_variance, mouth_region_polygons
from clips import astronaut, jitter_affines, render

BASE = np.array([[1.1, 0.0, 30.0], [0.0, 1.1, -40.0]])


@pytest.fixture(scope="module")
def clip():
    torch.set_num_threads(1)
    frames = (render(astronaut(), jitter_affines(6, seed=5, base=BASE)).numpy() * 255).round().astype(np.uint8)
    _, alignment = FaceAligner(get_backend("mediapipe")).align(torch.from_numpy(frames).float() / 255.0)
    assert alignment.has_face.all()
    return frames, alignment


def measure(frames, alignment, source):
    meter = ImageQualityMeter()
    meter.add(frames[:4], alignment.select(np.arange(4)), source[:4])  # two windows, as a video is read
    meter.add(frames[4:], alignment.select(np.arange(4, len(frames))), source[4:])
    return meter.result()


def mouth_masks(frames, alignment) -> np.ndarray:
    """``(N, H, W)`` bool: the mouth box itself (not the grown region the metrics leave out)."""
    masks = np.zeros(frames.shape[:3], dtype=np.uint8)
    for mask, poly in zip(masks, mouth_region_polygons(alignment, growth=1.0)):
        cv2.fillConvexPoly(mask, np.round(poly).astype(np.int32), 1)
    return masks.astype(bool)


def test_identical_video(clip):
    frames, alignment = clip
    q = measure(frames, alignment, frames.copy())
    assert q.psnr == float("inf") and q.ssim == 1.0
    assert q.sharpness == q.source_sharpness and q.sharpness.laplacian_variance > 0
    assert q.stability_ratio == 1.0 and q.mouth_change > 0
    assert q.frames == q.face_frames == len(frames)


def test_change_inside_mouth_keeps_identity_change_outside_lowers_it(clip):
    frames, alignment = clip
    mouth = mouth_masks(frames, alignment)
    inside = frames.copy()
    inside[mouth] = 255 - inside[mouth]
    q_in = measure(inside, alignment, frames)
    assert q_in.psnr == float("inf") and q_in.ssim == 1.0
    assert q_in.sharpness != q_in.source_sharpness

    outside = frames.copy()
    outside[:, :60, :80] = np.clip(outside[:, :60, :80].astype(int) + 40, 0, 255)
    q_out = measure(outside, alignment, frames)
    assert np.isfinite(q_out.psnr) and 20 < q_out.psnr < 60
    assert q_out.ssim < 1.0


def test_blurred_mouth_is_less_sharp(clip):
    frames, alignment = clip
    mouth = mouth_masks(frames, alignment)
    blurred = frames.copy()
    for frame, m in zip(blurred, mouth):
        frame[m] = cv2.GaussianBlur(frame, (0, 0), 3.0)[m]
    q = measure(blurred, alignment, frames)
    assert q.sharpness.laplacian_variance < 0.5 * q.source_sharpness.laplacian_variance
    assert q.sharpness.gradient_energy < q.source_sharpness.gradient_energy
    assert q.psnr == float("inf")


def test_flickering_mouth_raises_the_change_ratio(clip):
    frames, alignment = clip
    mouth = mouth_masks(frames, alignment)
    flicker = frames.copy()
    for i, (frame, m) in enumerate(zip(flicker, mouth)):
        frame[m] = np.clip(frame[m].astype(int) + (25 if i % 2 else -25), 0, 255)
    q = measure(flicker, alignment, frames)
    assert q.stability_ratio > 2.0


def test_sharpness_measures_on_known_images():
    flat = np.full((64, 64), 100.0)
    edges = np.zeros((64, 64))
    edges[:, (np.arange(64) // 4) % 2 == 1] = 255.0  # 4-px stripes
    assert laplacian_variance(flat) == 0.0 and gradient_energy(flat) == 0.0
    assert laplacian_variance(cv2.GaussianBlur(edges, (0, 0), 2.0)) < laplacian_variance(edges)
    assert gradient_energy(cv2.GaussianBlur(edges, (0, 0), 2.0)) < gradient_energy(edges)


def test_shorter_source_is_compared_only_where_it_has_frames(clip):
    from latentsync_core.metrics.evaluate import QualityEvaluator

    frames, alignment = clip
    evaluator = QualityEvaluator(25.0)
    evaluator.add(frames, frames[:3].copy(), alignment)
    q = evaluator.report(None, "no audio").image
    assert q.frames == len(frames) and q.psnr == float("inf")
    first = ImageQualityMeter()
    first.add(frames[:3], alignment.select(np.arange(3)), frames[:3])
    assert q.source_mouth_change == first.result().source_mouth_change
    assert q.mouth_change == measure(frames, alignment, frames).mouth_change
