"""Time MediaPipe landmark detection per frame at 720p and 1080p.

The frame is tests/data/astronaut.png scaled to the frame height and centred on a
black 16:9 canvas (one face of about a fifth of the frame width, as in a talking-head
video). Prints ms/frame (median and minimum over ``--frames`` calls after warm-up) for
static-image mode (the default) and tracking (video) mode.

    python bench/bench_landmarks.py [--frames 30]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from latentsync_core.landmarks.mediapipe_backend import MediaPipeBackend  # noqa: E402


def make_frame(height: int) -> np.ndarray:
    """``(height, 16/9 * height, 3)`` uint8 RGB frame with the astronaut face in the middle."""
    image = cv2.cvtColor(cv2.imread(os.path.join(ROOT, "tests", "data", "astronaut.png")), cv2.COLOR_BGR2RGB)
    scaled = cv2.resize(image, (height, height), interpolation=cv2.INTER_LINEAR)
    width = height * 16 // 9
    frame = np.zeros((height, width, 3), np.uint8)
    left = (width - height) // 2
    frame[:, left : left + height] = scaled
    return frame


def time_backend(backend: MediaPipeBackend, frame: np.ndarray, frames: int) -> tuple[float, float, int]:
    """Median and minimum ms per ``detect`` call, and the faces found in the last call."""
    for _ in range(3):
        backend.detect(frame)
    times = []
    for _ in range(frames):
        start = time.perf_counter()
        faces = backend.detect(frame)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times), min(times), len(faces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    args = parser.parse_args()
    print(f"cpu cores visible: {os.cpu_count()}")
    for label, height in (("720p", 720), ("1080p", 1080)):
        frame = make_frame(height)
        for mode, tracking in (("static", False), ("tracking", True)):
            backend = MediaPipeBackend(tracking=tracking)
            median, fastest, faces = time_backend(backend, frame, args.frames)
            backend.reset()
            print(f"mediapipe {mode:8s} {label:5s} {frame.shape[1]}x{frame.shape[0]}: "
                  f"{median:6.1f} ms/frame median, {fastest:6.1f} min, faces={faces}")


if __name__ == "__main__":
    main()
