"""Real people's photographs available offline, and scenes of several of them side by side.

``astronaut``: tests/data/astronaut.png (Eileen Collins, NASA, public domain);
``grace_hopper``: matplotlib's sample grace_hopper.jpg (US Navy photograph, public domain).
``scene`` places heads (square crops around each face) in slots from left to right on a
textured background, so tests know who is where.
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from clips import astronaut

FACE_BOXES = {"astronaut": (175, 76, 266, 167), "grace_hopper": (180, 139, 367, 326)}
"""dlib HOG's box (x0, y0, x1, y1) of each photo's face."""


def grace_hopper() -> np.ndarray:
    """``(600, 512, 3)`` uint8 RGB."""
    import matplotlib

    path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    return cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)


def photo(name: str) -> np.ndarray:
    return astronaut() if name == "astronaut" else grace_hopper()


def head(name: str, side: int = 200) -> np.ndarray:
    """``(side, side, 3)`` crop of ``name``'s head: a square 2.2 face widths wide around the face."""
    x0, y0, x1, y1 = FACE_BOXES[name]
    half = 1.1 * (x1 - x0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    scale = side / (2 * half)
    m = np.array([[scale, 0, side / 2 - cx * scale], [0, scale, side / 2 - cy * scale]])
    return cv2.warpAffine(photo(name), m, (side, side), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)


def background(size: tuple[int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(60, 200, (9, 16, 3), dtype=np.uint8)
    return cv2.resize(small, size, interpolation=cv2.INTER_CUBIC)


def scene(heads: list[np.ndarray | None], size: tuple[int, int] = (640, 360), seed: int = 0) -> np.ndarray:
    """A frame with ``heads`` in equal slots from the left (``None``: an empty slot)."""
    frame = background(size, seed)
    width, height = size
    slot = width // max(len(heads), 1)
    for i, h in enumerate(heads):
        if h is None:
            continue
        side = min(h.shape[0], slot - 8, height - 8)
        h = cv2.resize(h, (side, side), interpolation=cv2.INTER_AREA)
        x, y = i * slot + (slot - side) // 2, (height - side) // 2
        frame[y : y + side, x : x + side] = h
    return frame
