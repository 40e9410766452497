"""MediaPipe landmark backend: ms/frame at 720p and 1080p, and stability on a drifting shot.

Timing frame: tests/data/astronaut.png scaled to the frame height and centred on a
black 16:9 canvas (one face of about a fifth of the frame height). Prints ms/frame
(median and minimum over ``--frames`` calls after 3 warm-up calls) for static mode
(the default) and tracking (video) mode.

Stability: 60 frames of a 720p shot whose camera drifts smoothly (the astronaut at
720 px, translated by up to 20 px and rotated by up to 3 degrees, ``cv2.warpAffine``).
The true anchors of each frame are the anchors of the undistorted image mapped through
that frame's matrix. Prints frames without a face, mean anchor error and the rms
frame-to-frame change of that error (jitter), in pixels.

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

from latentsync_core.face.landmarks.mediapipe_backend import MediaPipeBackend  # noqa: E402


def astronaut(side: int) -> np.ndarray:
    """The test image, ``(side, side, 3)`` uint8 RGB."""
    image = cv2.cvtColor(cv2.imread(os.path.join(ROOT, "tests", "data", "astronaut.png")), cv2.COLOR_BGR2RGB)
    return cv2.resize(image, (side, side), interpolation=cv2.INTER_LINEAR)


def make_frame(height: int) -> np.ndarray:
    """``(height, 16/9 * height, 3)`` uint8 RGB frame with the astronaut in the middle."""
    width = height * 16 // 9
    frame = np.zeros((height, width, 3), np.uint8)
    left = (width - height) // 2
    frame[:, left : left + height] = astronaut(height)
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


def drifting_shot(count: int = 60) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """The 720 px image, ``count`` 1280x720 frames of it drifting, and their ``(2, 3)`` matrices."""
    image = astronaut(720)
    frames, matrices = [], []
    for t in range(count):
        matrix = cv2.getRotationMatrix2D((360.0, 360.0), 3.0 * np.sin(t / 15), 1.0)
        matrix[:, 2] += (280.0 + 20.0 * np.sin(t / 10), 8.0 * np.cos(t / 13))
        frames.append(cv2.warpAffine(image, matrix, (1280, 720), flags=cv2.INTER_LINEAR))
        matrices.append(matrix)
    return image, frames, matrices


def stability(tracking: bool) -> tuple[int, float, float]:
    """Frames without a face, mean anchor error (px) and rms frame-to-frame error change (px)."""
    image, frames, matrices = drifting_shot()
    reference = MediaPipeBackend().detect(image)[0].anchors
    backend = MediaPipeBackend(tracking=tracking)
    errors = []
    for frame, matrix in zip(frames, matrices):
        faces = backend.detect(frame)
        truth = reference @ matrix[:, :2].T + matrix[:, 2]
        errors.append(faces[0].anchors - truth if faces else np.full((3, 2), np.nan))
    backend.reset()
    errors = np.array(errors)
    missed = int(np.isnan(errors[:, 0, 0]).sum())
    error = float(np.nanmean(np.linalg.norm(errors, axis=2)))
    jitter = float(np.sqrt(np.nanmean(np.diff(errors, axis=0) ** 2)))
    return missed, error, jitter


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
    for mode, tracking in (("static", False), ("tracking", True)):
        missed, error, jitter = stability(tracking)
        print(f"stability {mode:8s} 720p drift, 60 frames: missed={missed}, "
              f"mean anchor error {error:.2f} px, frame-to-frame change {jitter:.2f} px rms")


if __name__ == "__main__":
    main()
