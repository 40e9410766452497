"""Peak memory of the streamed lip-sync job against the video's length, per hour of video.

Goal (issue 15): the job's peak RSS grows by under 0.3 GB per hour of video beyond its
peak for one minute, the speech given to it (ComfyUI's own AUDIO input) aside.

Each length (``--minutes``, default 1, 5 and 15) is a synthesised 25 fps clip of
``--size`` (default 64x64) frames of a slowly moving colour gradient, without a face:
the aligner runs on every frame and the job keeps its per-frame state for every frame
(alignment rows, frame map, timestamps, Whisper features for every 20 ms, the speech
for the writer), while the sampler, which holds one chunk at a time whatever the
length, is skipped, so an hour runs on a CPU. The speech is a tone as long as the
clip, 48 kHz stereo (the common rate and layout, kept for the AAC track), given as a
tensor like ComfyUI's AUDIO; its size is printed and taken out of the figure. Models
are random-weight (``lipsync_models.tiny_models``: tiny UNet and VAE, Whisper at
Whisper tiny's real size). Each length runs in its own process; the script prints each
peak RSS (``ru_maxrss``), the run time and the growth per hour of video from the first
length to each longer one (labelled extrapolated when the longer one is under an hour).
The peak is the job's own (Linux: ``VmHWM`` reset just before the job starts, so making
the models and the speech does not count; elsewhere ``ru_maxrss``).
The aligner (MediaPipe's detector, twice per face-less frame) takes most of the time:
about 25 ms per frame on one core of a shared 2-core machine, so the default lengths take
some 15 minutes there and ``--minutes 1 60`` (the measured hour) about 45.

Run from the repository root::

    python bench/bench_long_video_memory.py [--minutes 1 5 15] [--size 64x64] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from lipsync_models import peak_rss, reset_peak_rss, tiny_models, tone  # noqa: E402 (bench/ is the script's folder)

FPS = 25
SPEECH_RATE = 48000
SPEECH_CHANNELS = 2


def write_gradient_clip(path: str, frames: int, width: int, height: int) -> None:
    """``frames`` frames of a horizontal colour gradient drifting one pixel per frame (no face, no sound)."""
    import av
    import numpy as np

    x = np.arange(width * 2)
    strip = np.stack([x * 255 // (2 * width), 255 - x * 255 // (2 * width), np.full_like(x, 128)], axis=-1).astype(np.uint8)
    with av.open(path, "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "23"}
        for i in range(frames):
            offset = i % width
            image = np.broadcast_to(strip[offset:offset + width], (height, width, 3))
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))


def child(args: argparse.Namespace) -> dict:
    """Run the job once (in this process) and report its figures."""
    import torch

    from latentsync_core.face.aligner import FaceAligner
    from latentsync_core.face.landmarks import get_backend
    from latentsync_core.job import JobOptions, LipSyncJob

    torch.set_num_threads(args.threads)
    models = tiny_models("tiny")
    speech = tone(args.child_frames / FPS, SPEECH_RATE, SPEECH_CHANNELS)
    options = JobOptions(length_mode="trim", preset="ultrafast")
    job = LipSyncJob(args.child_input, speech, SPEECH_RATE, models, FaceAligner(get_backend("mediapipe")), options)
    reset = reset_peak_rss()  # the job's peak, not the making of the models and the speech
    start = time.perf_counter()
    result = job.write(args.child_output)
    return {"frames": result.frames, "faces": result.faces, "seconds": time.perf_counter() - start,
            "speech_bytes": speech.nbytes, "peak_rss": peak_rss(reset), "since_job": reset}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 5, 15])
    parser.add_argument("--size", default="64x64", help="WIDTHxHEIGHT")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child-input", help=argparse.SUPPRESS)
    parser.add_argument("--child-output", help=argparse.SUPPRESS)
    parser.add_argument("--child-frames", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_input:
        print(json.dumps(child(args)))
        return
    width, height = (int(v) for v in args.size.lower().split("x"))
    print(f"streamed lip-sync job, {width}x{height} at {FPS} fps without a face, speech {SPEECH_RATE} Hz x "
          f"{SPEECH_CHANNELS}, tiny random models, {args.threads} thread(s)")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            n = round(minutes * 60 * FPS)
            src, out = os.path.join(tmp, f"in_{n}.mp4"), os.path.join(tmp, f"out_{n}.mp4")
            made = time.perf_counter()
            write_gradient_clip(src, n, width, height)
            made = time.perf_counter() - made
            cmd = [sys.executable, os.path.abspath(__file__), "--child-input", src, "--child-output", out,
                   "--child-frames", str(n), "--threads", str(args.threads)]
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit(f"the job failed on the {minutes}-minute clip:\n{proc.stderr[-2000:]}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            runs.append((minutes, r))
            print(f"{minutes:6g} min ({n} frames, {r['faces']} with a face): peak RSS {r['peak_rss'] / 2**30:6.3f} GiB "
                  f"({'during the job' if r['since_job'] else 'of the process'}) "
                  f"(speech input {r['speech_bytes'] / 2**30:.3f} GiB), job {r['seconds']:.0f} s (+{made:.0f} s to make the clip)",
                  flush=True)
            os.remove(src)
    (m0, r0), *longer = runs
    for minutes, r in longer:
        hours = (minutes - m0) / 60
        grown = (r["peak_rss"] - r0["peak_rss"]) / hours
        speech = (r["speech_bytes"] - r0["speech_bytes"]) / hours
        label = "measured" if minutes >= 60 else f"extrapolated from {minutes:g} min"
        print(f"{m0:g} -> {minutes:g} min: peak RSS +{grown / 1e9:.3f} GB per hour of video, "
              f"+{(grown - speech) / 1e9:.3f} GB without the speech input ({label}; goal < 0.3 GB)")


if __name__ == "__main__":
    main()
