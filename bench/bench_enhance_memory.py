"""Peak memory of ``python -m latentsync_core enhance`` on a short and a 10x longer video.

The command streams (decode a window, process, encode, drop), so its peak
resident memory should not grow with the length of the video: the script
synthesises two clips of the same picture, ``--frames`` (default 150 and
1500) at ``--size`` (default 1280x720), 25 fps, with a tone as audio, runs the
command on each in its own process and prints each peak RSS (the child's
``ru_maxrss``) and their ratio. The picture is ``tests/data/astronaut.png``
panning slowly across the frame, so every frame has a face to align.

``--superres`` defaults to the command's default, GFPGAN: without
``--models-dir`` a GFPGAN v1.4 file with random weights (spandrel's
architecture, seed 0) is written to the temporary folder; ``--superres none``
measures align + paste only.

Run from the repository root (the clips and outputs go to a temporary folder,
removed at the end)::

    python bench/bench_enhance_memory.py [--frames 150 1500] [--size 1280x720]
        [--superres GFPGAN|CodeFormer|both|none] [--sr_ratio R] [--models-dir DIR]
        [--window 32] [--preset veryfast]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction

import av
import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = os.path.join(ROOT, "tests", "data", "astronaut.png")
FPS = 25


def write_clip(path: str, frames: int, width: int, height: int) -> None:
    """A ``frames``-long clip of the astronaut (face ~1/3 of the height) panning, with a 220 Hz tone."""
    image = cv2.cvtColor(cv2.imread(IMAGE, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    scale = height / 512.0
    with av.open(path, "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "23"}
        audio = container.add_stream("aac", rate=16000, layout="mono")
        for i in range(frames):
            dx = (width - 512 * scale) / 2 + 40 * scale * np.sin(2 * np.pi * i / 100)
            m = np.array([[scale, 0.0, dx], [0.0, scale, 0.0]])
            frame = av.VideoFrame.from_ndarray(
                cv2.warpAffine(image, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT),
                format="rgb24",
            )
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        samples = frames * 16000 // FPS
        tone = (0.2 * np.sin(2 * np.pi * 220 * np.arange(samples) / 16000)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="flt", layout="mono")
        frame.sample_rate, frame.pts = 16000, 0
        for out in av.AudioResampler(format="fltp", layout="mono", rate=16000).resample(frame):
            container.mux(audio.encode(out))
        container.mux(audio.encode(None))


def write_random_gfpgan(folder: str) -> None:
    """``folder/GFPGANv1.4.pth``: the GFPGAN v1.4 architecture with random weights, in the official layout."""
    import torch
    from spandrel.architectures.GFPGAN import GFPGAN

    torch.manual_seed(0)
    torch.save({"params_ema": GFPGAN().state_dict()}, os.path.join(folder, "GFPGANv1.4.pth"))


def run_enhance(args: list[str]) -> tuple[int, float, int]:
    """Run the command in a child; return ``(exit code, seconds, peak RSS in bytes)``."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "latentsync_core", "enhance", *args, "--quiet"], cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return child.returncode, time.perf_counter() - start, usage.ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description="Peak RSS of enhance on a short and a long clip.")
    parser.add_argument("--frames", type=int, nargs=2, default=[150, 1500])
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT")
    parser.add_argument("--superres", default="GFPGAN")
    parser.add_argument("--sr_ratio", default=None, help="passed to the command (default: the command's)")
    parser.add_argument("--models-dir", default=None, help="default: a random-weight GFPGAN v1.4 in a temporary folder")
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--preset", default="veryfast", help="x264 preset of the outputs")
    opts = parser.parse_args()
    width, height = (int(v) for v in opts.size.lower().split("x"))
    extra = ["--superres", opts.superres, "--window", str(opts.window), "--preset", opts.preset, "--device", "cpu"]
    if opts.sr_ratio is not None:
        extra += ["--sr_ratio", opts.sr_ratio]
    rss = []
    with tempfile.TemporaryDirectory() as tmp:
        if opts.models_dir:
            extra += ["--models-dir", opts.models_dir]
        elif opts.superres == "GFPGAN":
            write_random_gfpgan(tmp)
            extra += ["--models-dir", tmp]
        for n in opts.frames:
            src, out = os.path.join(tmp, f"in_{n}.mp4"), os.path.join(tmp, f"out_{n}.mp4")
            write_clip(src, n, width, height)
            code, seconds, peak = run_enhance(["--input", src, "--output", out, *extra])
            if code != 0:
                sys.exit(f"enhance failed with exit code {code} on the {n}-frame clip")
            rss.append(peak)
            print(f"{n:5d} frames {width}x{height}: peak RSS {peak / 2**20:7.1f} MiB, {seconds:6.1f} s ({n / seconds:.2f} frames/s)")
    print(f"ratio {opts.frames[1]}/{opts.frames[0]} frames: peak RSS x{rss[1] / rss[0]:.3f} "
          f"(superres {opts.superres}, sr_ratio {opts.sr_ratio or 'default'}, window {opts.window})")


if __name__ == "__main__":
    main()
