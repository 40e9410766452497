"""Peak memory of the streamed lip-sync job on a short and a 10x longer video.

The job (:class:`latentsync_core.job.LipSyncJob`) holds a window of frames and one
chunk at a time, so its peak resident memory should not grow with the length of
the video (goal: the long clip within 20 % of the short one). The script
synthesises two 25 fps clips of ``tests/data/astronaut.png`` panning slowly
(every frame has a face; ``bench_enhance_memory.write_clip``), ``--frames``
(default 150 and 1500) at ``--size`` (default 1280x720), and runs the job on each
in its own process with random-weight models: the tiny LatentSync UNet
(``LatentSyncUNetConfig.tiny()``), the VAE at the real sd-vae-ft-mse size
(``--vae real``, default) or the tiny test VAE (``--vae tiny``), and a random
Whisper tiny encoder. The speech is a tone as long as the clip (``trim``, so
every source frame is sampled once). It prints each child's peak RSS
(``ru_maxrss``), its time, and the ratio.

Run from the repository root::

    python bench/bench_lipsync_memory.py [--frames 150 1500] [--size 1280x720]
        [--steps 1] [--guidance 1.5] [--vae real|tiny] [--window 32] [--threads 2] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench_enhance_memory import write_clip  # noqa: E402 (bench/ is the script's folder)
from lipsync_models import tiny_models, tone  # noqa: E402


def child(args: argparse.Namespace) -> dict:
    """Run the job once (in this process) and report its figures."""
    import torch

    from latentsync_core.face.aligner import FaceAligner
    from latentsync_core.face.landmarks import get_backend
    from latentsync_core.job import JobOptions, LipSyncJob
    from latentsync_core.lipsync.settings import SamplerSettings

    torch.set_num_threads(args.threads)
    models = tiny_models(args.vae, args.device)
    rate = 16000
    speech = tone(args.child_frames / 25, rate)
    options = JobOptions(
        sampler=SamplerSettings(steps=args.steps, guidance_scale=args.guidance), length_mode="trim", window=args.window,
        preset="veryfast",
    )
    job = LipSyncJob(args.child_input, speech, rate, models, FaceAligner(get_backend("mediapipe")), options)
    start = time.perf_counter()
    result = job.write(args.child_output)
    return {"frames": result.frames, "faces": result.faces, "seconds": time.perf_counter() - start,
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, nargs=2, default=[150, 1500])
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT")
    parser.add_argument("--steps", type=int, default=1, help="DDIM steps per chunk")
    parser.add_argument("--guidance", type=float, default=1.5, help="1 skips the zero-audio branch (half the UNet work)")
    parser.add_argument("--vae", choices=["real", "tiny"], default="real")
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child-input", help=argparse.SUPPRESS)
    parser.add_argument("--child-output", help=argparse.SUPPRESS)
    parser.add_argument("--child-frames", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_input:
        print(json.dumps(child(args)))
        return
    width, height = (int(v) for v in args.size.lower().split("x"))
    print(f"lip-sync job, tiny UNet, {args.vae} VAE, {args.steps} step(s), guidance {args.guidance}, window {args.window}, "
          f"{args.threads} thread(s), {args.device}, {width}x{height}")
    peaks = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.frames:
            src, out = os.path.join(tmp, f"in_{n}.mp4"), os.path.join(tmp, f"out_{n}.mp4")
            write_clip(src, n, width, height)
            cmd = [sys.executable, os.path.abspath(__file__), "--child-input", src, "--child-output", out,
                   "--child-frames", str(n), "--steps", str(args.steps), "--guidance", str(args.guidance), "--vae", args.vae, "--window", str(args.window),
                   "--threads", str(args.threads), "--device", args.device]
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit(f"the job failed on the {n}-frame clip:\n{proc.stderr[-2000:]}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            peaks.append(r["peak_rss"])
            print(f"{n:5d} frames ({r['faces']} with a face): peak RSS {r['peak_rss'] / 2**20:7.1f} MiB, "
                  f"{r['seconds']:7.1f} s ({r['frames'] / r['seconds']:.2f} frames/s)")
    print(f"ratio {args.frames[1]}/{args.frames[0]} frames: peak RSS x{peaks[1] / peaks[0]:.3f} (goal <= 1.20)")


if __name__ == "__main__":
    main()
