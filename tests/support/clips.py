"""Short clips synthesised from tests/data/astronaut.png (NASA, public domain).

The photo is placed on a canvas with a known similarity jitter per frame,
so tests know where every face point truly is.
"""
from __future__ import annotations

import os

import cv2
import numpy as np
import torch

from repo_paths import DATA

FACE_WIDTH = 92.0
"""Width in pixels of the MediaPipe face mesh of astronaut.png (its extent)."""
FACE_CENTRE = (225.0, 120.0)
"""Approximate centre of that face (x, y)."""


def astronaut() -> np.ndarray:
    """``(512, 512, 3)`` uint8 RGB."""
    return cv2.cvtColor(cv2.imread(os.path.join(DATA, "astronaut.png")), cv2.COLOR_BGR2RGB)


def similarity(angle_deg: float, scale: float, tx: float, ty: float, centre: tuple[float, float]) -> np.ndarray:
    """``(2, 3)`` rotation+scale about ``centre`` followed by a shift."""
    m = cv2.getRotationMatrix2D(centre, angle_deg, scale)
    m[:, 2] += (tx, ty)
    return m


def jitter_affines(n: int, seed: int, base: np.ndarray) -> np.ndarray:
    """``(n, 2, 3)`` photo -> frame maps: ``base`` then a small random similarity."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        j = similarity(rng.uniform(-6, 6), rng.uniform(0.92, 1.08), rng.uniform(-15, 15), rng.uniform(-10, 10), (320.0, 240.0))
        out.append(np.vstack([j, [0, 0, 1]]) @ np.vstack([base, [0, 0, 1]]))
    return np.stack(out)[:, :2]


def render(photo: np.ndarray, affines: np.ndarray, size: tuple[int, int] = (640, 480)) -> torch.Tensor:
    """Frames ``[n, H, W, 3]`` float 0..1 with ``photo`` warped by each affine."""
    frames = [cv2.warpAffine(photo, a, size, flags=cv2.INTER_LINEAR, borderValue=(40, 40, 40)) for a in affines]
    return torch.from_numpy(np.stack(frames)).float() / 255.0


def closeup_1080p(face_width: float) -> np.ndarray:
    """``(1080, 1920, 3)`` uint8 RGB: the photo scaled so its face is about ``face_width`` px wide, centred."""
    scale = face_width / FACE_WIDTH
    affine = np.array([[scale, 0.0, 960 - FACE_CENTRE[0] * scale], [0.0, scale, 540 - FACE_CENTRE[1] * scale]])
    return cv2.warpAffine(astronaut(), affine, (1920, 1080), flags=cv2.INTER_LINEAR, borderValue=(40, 40, 40))


def to_frames(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 ``(H, W, 3)`` images -> ``[n, H, W, 3]`` float 0..1."""
    return torch.from_numpy(np.stack(images)).float() / 255.0


def cutaway(size: tuple[int, int] = (640, 480), seed: int = 0) -> np.ndarray:
    """A frame with no face: smooth coloured noise (a cutaway)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
    return cv2.resize(small, size, interpolation=cv2.INTER_CUBIC)


def face_frames(n: int = 5, size: int = 192) -> np.ndarray:
    """``(n, size, size, 3)`` uint8: the astronaut's head, the view panning 2 px per frame."""
    image = astronaut()
    out = []
    for i in range(n):
        s = size / 240.0
        m = np.array([[s, 0.0, size / 2 - s * (222.0 + 2 * i)], [0.0, s, size / 2 - s * 140.0]])
        out.append(cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT))
    return np.stack(out)
