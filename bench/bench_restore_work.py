"""Restore work: mouth ROI with the sr_ratio condition vs. every whole aligned face.

Usage: python bench/bench_restore_work.py [--sharp 3] [--small 3] [--sr-ratio 2] [--threads 1] [--device cpu]

The clip (1024x1024) is tests/data/astronaut.png in two shots: ``--sharp`` frames
zoomed in on the face (its mouth ROI holds more source pixels than 512 / sr_ratio,
so it needs no upscaling) followed by ``--small`` frames with the whole photo at
its own size (a small face: the mouth ROI is enlarged several times to reach 512).
Both ways use the same GFPGAN v1.4 network (spandrel's random init; the weights
do not change the cost) at 512x512 per face:

* ``mouth ROI``: align at 256 (LatentSync 1.5), ``crop_mouth`` at 512, restore only
  the frames ``frames_needing_restore`` selects (``restore_selected``);
* ``full face``: align at 512 and restore every aligned face.

Printed: each frame's mouth-ROI side in source pixels, then for both ways the
frames restored and the restore time (crop included for the ROI way), and the
ratio of the two times (the issue's goal is >= 3x less work).
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
import time

import cv2
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from bench_restorers import _random_state_dict  # noqa: E402
from latentsync_core.face.aligner import FaceAligner  # noqa: E402
from latentsync_core.face.landmarks import get_backend  # noqa: E402
from latentsync_core.face.mouth_roi import crop_mouth  # noqa: E402
from latentsync_core.restorers import GFPGAN, frames_needing_restore, restore_selected, restorer_from_state_dict  # noqa: E402

ASTRONAUT = os.path.join(os.path.dirname(HERE), "tests", "data", "astronaut.png")
SIZE = 1024
FACE_CENTRE = (230, 120)
"""(x, y) of the astronaut's face centre in astronaut.png."""


def clip(sharp: int, small: int) -> torch.Tensor:
    """``[sharp + small, 1024, 1024, 3]`` float32 in [0, 1]: a close-up shot, then a wide one.

    Close-up: the photo scaled 5x with the face centred (face about 950 px wide);
    wide: the 512x512 photo centred on gray (face about 190 px wide). Each frame drifts
    1 px right so that no two frames are identical.
    """
    photo = cv2.cvtColor(cv2.imread(ASTRONAUT), cv2.COLOR_BGR2RGB)
    scale = 5.0
    zoom = cv2.warpAffine(photo, np.array([[scale, 0, SIZE / 2 - scale * FACE_CENTRE[0]],
                                            [0, scale, SIZE / 2 - scale * FACE_CENTRE[1]]]),
                          (SIZE, SIZE), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    wide = np.full((SIZE, SIZE, 3), 128, np.uint8)
    y0, x0 = (SIZE - photo.shape[0]) // 2, (SIZE - photo.shape[1]) // 2
    wide[y0:y0 + photo.shape[0], x0:x0 + photo.shape[1]] = photo
    frames = [np.roll(zoom, i, axis=1) for i in range(sharp)] + [np.roll(wide, i, axis=1) for i in range(small)]
    return torch.from_numpy(np.stack(frames)).float() / 255.0


def timed(fn):
    """``(result, milliseconds)`` of calling ``fn()``."""
    start = time.perf_counter()
    result = fn()
    return result, (time.perf_counter() - start) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sharp", type=int, default=3, help="close-up frames (no restore needed)")
    parser.add_argument("--small", type=int, default=3, help="small-face frames (need upscaling)")
    parser.add_argument("--sr-ratio", type=float, default=2.0, help="restore when the ROI was enlarged more than this")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    frames = clip(args.sharp, args.small)
    restorer = restorer_from_state_dict(_random_state_dict(GFPGAN), name=GFPGAN)
    restorer.to(device=device, dtype=torch.float32)
    restore = functools.partial(restorer.restore, fidelity=0.5)
    restorer.restore(torch.rand(1, 3, 512, 512))  # warm-up
    backend = get_backend("mediapipe")
    n = frames.shape[0]
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{n} frames {SIZE}x{SIZE} ({args.sharp} close-up, {args.small} small face), sr_ratio {args.sr_ratio}")

    aligned, alignment = FaceAligner(backend, resolution=256).align(frames)

    def roi_way() -> int:
        roi = crop_mouth(aligned, alignment, target_size=512)
        mask = frames_needing_restore(roi.source_size, roi.target_size, args.sr_ratio, roi.valid)
        restore_selected(roi.crops.to(device), mask, restore, batch_size=1)
        print("mouth ROI side in source pixels:", " ".join(f"{s:.0f}" for s in roi.source_size))
        return int(mask.sum())

    roi_count, roi_ms = timed(roi_way)

    faces, full_alignment = FaceAligner(backend, resolution=512).align(frames)
    every = full_alignment.has_face.copy()
    _, full_ms = timed(lambda: restore_selected(faces.to(device), every, restore, batch_size=1))

    print(f"mouth ROI, sr_ratio {args.sr_ratio}: restored {roi_count:2d} of {n} frames in {roi_ms:8.0f} ms")
    print(f"full aligned face, every frame:  restored {int(every.sum()):2d} of {n} frames in {full_ms:8.0f} ms")
    ratio = full_ms / roi_ms
    print(f"ratio {ratio:.2f}x less restore time ({'meets' if ratio >= 3 else 'below'} the 3x goal)")


if __name__ == "__main__":
    main()
