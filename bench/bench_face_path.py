"""Face-path speed on CPU: ms/frame for detection, alignment and paste at 720p and 1080p.

Usage: python bench/bench_face_path.py [--frames 30] [--threads 1] [--backend mediapipe]

The frame is tests/data/astronaut.png scaled to the frame height and centred
(a talking-head framing). "align" is the template fit + crop warp + resize
(detection excluded); "paste" is ``paste_back`` in place (as the streaming
command line runs it) with an edited lower face, in ``auto`` mode (changed
pixels only) and in ``full_face`` mode. "copy" is the extra cost per frame of
the copy a ComfyUI node makes of its IMAGE batch.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from latentsync_core.face.face_align import FaceAligner  # noqa: E402
from latentsync_core.face.geometry import crop_size  # noqa: E402
from latentsync_core.face.landmarks import get_backend  # noqa: E402
from latentsync_core.face.paste import paste_back  # noqa: E402
from latentsync_core.face.warp import resize_crop, warp_to_crop  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data")


def talking_head(width: int, height: int) -> np.ndarray:
    photo = cv2.cvtColor(cv2.imread(os.path.join(DATA, "astronaut.png")), cv2.COLOR_BGR2RGB)
    photo = cv2.resize(photo, (height, height), interpolation=cv2.INTER_CUBIC)
    frame = np.full((height, width, 3), 40, np.uint8)
    x0 = (width - height) // 2
    frame[:, x0 : x0 + height] = photo
    return frame


def ms_per_frame(fn, n: int) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backend", default="mediapipe")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    backend = get_backend(args.backend)
    print(f"backend={args.backend} threads={args.threads} frames={args.frames}")
    print(f"{'size':>6} {'detect':>9} {'align':>9} {'paste auto':>11} {'paste full':>11} {'align+paste':>12} {'copy':>7}  (ms/frame)")
    for name, (w, h) in {"720p": (1280, 720), "1080p": (1920, 1080)}.items():
        frame = talking_head(w, h)
        frames = torch.from_numpy(frame).float().div(255).expand(args.frames, -1, -1, -1).contiguous()
        backend.detect(frame)  # warm-up (model load)
        detect = ms_per_frame(lambda: [backend.detect(frame) for _ in range(args.frames)], args.frames)
        aligned, alignment = FaceAligner(backend).align(frames)
        if not alignment.has_face.all():
            print(f"{name:>6} no face found by {args.backend}; skipped")
            continue
        size = crop_size(alignment.resolution)
        align = ms_per_frame(
            lambda: [resize_crop(warp_to_crop(frame, a, size), alignment.resolution) for a in alignment.affines], args.frames
        )
        edited = aligned.clone()
        edited[:, 150:230, 60:200] *= 0.9
        work = frames.clone()
        auto = ms_per_frame(lambda: paste_back(work, edited, alignment, inplace=True), args.frames)
        work = frames.clone()
        full = ms_per_frame(lambda: paste_back(work, edited, alignment, region="full_face", inplace=True), args.frames)
        copy = ms_per_frame(lambda: frames.clone(), args.frames)
        print(f"{name:>6} {detect:9.2f} {align:9.2f} {auto:11.2f} {full:11.2f} {align + auto:12.2f} {copy:7.2f}")


if __name__ == "__main__":
    main()
