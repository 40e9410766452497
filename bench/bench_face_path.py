"""Face-path speed on CPU: ms/frame for detection, alignment and paste at 720p and 1080p.

Usage: taskset -c 1 python bench/bench_face_path.py [--frames 30] [--threads 1] [--backend mediapipe]

The frame is tests/data/astronaut.png scaled to the frame height and centred
(a talking-head framing). "align" is the template fit + crop warp + resize
(detection excluded); "paste" is ``paste_back`` in place (as the streaming
command line runs it) with an edited lower face, in ``auto`` mode (changed
pixels only; run after ``FaceAligner.align``, so its comparison finds the faces
the aligner made) and in ``full_face`` mode. "copy" is the extra cost per frame of
the copy a ComfyUI node makes of its IMAGE batch.

"pipeline" is the whole face path as the nodes and the command line run it on
a moving talking-head clip (the photo panning, zooming and turning slightly):
``FaceAligner.align`` (cut detection, detection or following, fit, crops) then
``paste_back`` of edited faces (whose comparison with the frame's own face
finds the face the aligner made; each pass starts with no face remembered),
in frames per second after a warm-up pass,
with following (detector only to acquire) and with detection in every frame.
Besides wall time it reports the process's CPU time (all threads, MediaPipe's
included), which on a shared machine estimates what one free core would do.
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

from latentsync_core.face.aligner import FaceAligner  # noqa: E402
from latentsync_core.face.geometry import crop_size  # noqa: E402
from latentsync_core.face.landmarks import get_backend  # noqa: E402
from latentsync_core.face.paste import paste_back  # noqa: E402
from latentsync_core.face.warp import forget_aligned_faces, resize_crop, warp_to_crop  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data")


def talking_head(width: int, height: int) -> np.ndarray:
    photo = cv2.cvtColor(cv2.imread(os.path.join(DATA, "astronaut.png")), cv2.COLOR_BGR2RGB)
    photo = cv2.resize(photo, (height, height), interpolation=cv2.INTER_CUBIC)
    frame = np.full((height, width, 3), 40, np.uint8)
    x0 = (width - height) // 2
    frame[:, x0 : x0 + height] = photo
    return frame


def moving_clip(width: int, height: int, n: int) -> torch.Tensor:
    """``[n, H, W, 3]`` float frames: the talking head drifting, zooming and turning a little."""
    still = talking_head(width, height)
    frames = []
    for i in range(n):
        t = i / max(n - 1, 1)
        m = cv2.getRotationMatrix2D((width / 2, height / 2), 4.0 * np.sin(6.28 * t), 1.0 + 0.05 * t)
        m[:, 2] += (40.0 * t, 10.0 * np.sin(6.28 * t))
        frames.append(cv2.warpAffine(still, m, (width, height), flags=cv2.INTER_LINEAR, borderValue=(40, 40, 40)))
    return torch.from_numpy(np.stack(frames)).float().div_(255.0)


def pipeline_fps(backend, frames: torch.Tensor, follow: bool, repeats: int) -> dict[str, float]:
    """Align + paste speed: the fastest of ``repeats`` passes after a warm-up.

    Returns frames per second of wall time and of this process's CPU time (all its
    threads; on a shared, busy machine the CPU time is what one free core would
    take), and the align and paste CPU ms/frame.
    """
    n = frames.shape[0]
    FaceAligner(backend, follow=follow).align(frames[:4])
    best = {"wall": float("inf"), "cpu": float("inf"), "align": 0.0, "paste": 0.0}
    for _ in range(repeats):
        forget_aligned_faces()  # each pass starts cold: no face of an earlier pass is reused
        wall, cpu = time.perf_counter(), time.process_time()
        aligned, alignment = FaceAligner(backend, follow=follow).align(frames)
        align = time.process_time() - cpu
        work = frames.clone()
        cpu_paste = time.process_time()
        paste_back(work, aligned.mul_(0.95), alignment, inplace=True)
        paste = time.process_time() - cpu_paste
        best["wall"] = min(best["wall"], time.perf_counter() - wall)
        if align + paste < best["cpu"]:
            best.update(cpu=align + paste, align=align, paste=paste)
    return {"wall fps": n / best["wall"], "cpu fps": n / best["cpu"], "align": best["align"] * 1000 / n, "paste": best["paste"] * 1000 / n}


def ms_per_frame(fn, n: int) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000.0 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backend", default="mediapipe")
    parser.add_argument("--repeats", type=int, default=3, help="pipeline passes; the fastest is reported")
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
    print("pipeline (FaceAligner.align + paste_back, moving talking head):")
    for name, (w, h) in {"720p": (1280, 720), "1080p": (1920, 1080)}.items():
        clip = moving_clip(w, h, args.frames)
        for follow in (True, False):
            r = pipeline_fps(backend, clip, follow, args.repeats)
            mode = "follow" if follow else "detect every frame"
            print(f"{name:>6} {mode:>18}: {r['cpu fps']:6.1f} fps of CPU time ({r['wall fps']:6.1f} wall)"
                  f"  align {r['align']:6.2f} + paste {r['paste']:6.2f} CPU ms/frame")


if __name__ == "__main__":
    main()
