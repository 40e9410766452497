"""Landmark cache: the landmark stage of a 720p clip without cache, filling it, and replaying it.

Usage: python bench/bench_landmark_cache.py [--frames 30] [--threads 1] [--backend mediapipe]

Times ``FaceAligner.locate`` (detection, face choice, template fit; no crops)
on a talking-head clip (tests/data/astronaut.png panning 2 px per frame):
once with no cache, once filling a fresh cache in a temporary folder, and
once replaying it with a new aligner (as a re-run after a restart does).
Wall time and this process's CPU time (all threads; on a busy shared machine
the CPU time is what one free core would take) are both printed.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import cv2
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_face_path import talking_head  # noqa: E402
from latentsync_core.face.aligner import FaceAligner  # noqa: E402
from latentsync_core.face.landmark_cache import LandmarkCache  # noqa: E402
from latentsync_core.face.landmarks import get_backend  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backend", default="mediapipe")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    backend = get_backend(args.backend)
    still = talking_head(1280 + 2 * args.frames, 720)
    frames = torch.from_numpy(np.stack([still[:, 2 * i : 2 * i + 1280] for i in range(args.frames)])).float().div_(255.0)
    backend.detect(still[:, :1280])  # warm-up (model load)
    with tempfile.TemporaryDirectory() as folder:
        cpu = {}
        for name, cache in [("no cache", None), ("fill cache", LandmarkCache(folder)), ("replay", LandmarkCache(folder))]:
            wall, start = time.perf_counter(), time.process_time()
            alignment = FaceAligner(backend, cache=cache).locate(frames)
            cpu[name] = (time.process_time() - start) * 1000.0 / args.frames
            wall = (time.perf_counter() - wall) * 1000.0 / args.frames
            print(f"{name:>10}: {cpu[name]:7.2f} CPU ms/frame, {wall:7.2f} wall  ({int(alignment.has_face.sum())}/{args.frames} faces)")
        size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    print(f"backend={args.backend} threads={args.threads} 720p; replay takes 1/{cpu['no cache'] / cpu['replay']:.0f} of the CPU time "
          f"of detecting; entry {size / args.frames / 1024:.1f} KiB/frame")


if __name__ == "__main__":
    main()
