"""Two speakers against one: the several-speaker job's peak memory and time per frame.

Issue 17 asks for the figures of 2 speakers against 1. The clip is the two-person shot of
tests/support/speaker_clips.py (two real photographs side by side, 640x360, 25 fps), ``--frames``
long, written as an .mp4; every frame shows both faces. Each case runs in its own process:

- ``one-speaker job``: :class:`LipSyncJob` (the largest face), the job of a single speaker today;
- ``speakers x1``: :class:`SpeakersJob` with one speaker (``0:0``);
- ``speakers x2``: :class:`SpeakersJob` with two (``0:0`` and ``0:1``), each with their own tone.

Models are random-weight (``lipsync_models.tiny_models``: the tiny UNet, the ``--vae`` VAE, Whisper
at Whisper tiny's real size); 1 sampler step, no guidance, no restorer, so the figures are of the
job's own work (detection, recognition, sampling, paste, encoding), not of a real UNet. The peak is
the job's own (``VmHWM`` reset just before it starts). The speakers are given by position; with
``--recognition`` the speakers cases also describe their face tracks (dlib).

Run from the repository root::

    python bench/bench_speakers.py [--frames 100] [--vae tiny] [--threads 2] [--recognition]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (ROOT, os.path.join(ROOT, "tests", "support")):
    if path not in sys.path:
        sys.path.insert(0, path)

from lipsync_models import peak_rss, reset_peak_rss, tiny_models, tone  # noqa: E402 (bench/ is the script's folder)

FPS = 25
RATE = 48000
CASES = ("one-speaker job", "speakers x1", "speakers x2")


def write_clip(path: str, frames: int) -> None:
    import av
    from fractions import Fraction

    from speaker_clips import two_person_clip

    shot = two_person_clip()[0][0]
    with av.open(path, "w") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = shot.shape[1], shot.shape[0], "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "18"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(shot, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))


def child(args: argparse.Namespace) -> dict:
    import torch

    from latentsync_core.face.aligner import FaceAligner
    from latentsync_core.face.identity import FaceDescriber, FacePosition
    from latentsync_core.face.landmarks import get_backend
    from latentsync_core.job import JobOptions, LipSyncJob, Recognition, Speaker, SpeakersJob
    from latentsync_core.lipsync.sampler import SamplerSettings

    torch.set_num_threads(args.threads)
    models = tiny_models(args.vae)
    seconds = args.frames / FPS
    options = JobOptions(sampler=SamplerSettings(steps=1, guidance_scale=1.0), length_mode="trim", preset="ultrafast")
    aligner = FaceAligner(get_backend("mediapipe"))
    voices = [tone(seconds, RATE, 2), 0.5 * tone(seconds * 1.01, RATE, 2)]
    if args.case == CASES[0]:
        job = LipSyncJob(args.input, voices[0], RATE, models, aligner, options)
    else:
        count = int(args.case[-1])
        speakers = [Speaker(FacePosition(0, k), voices[k], RATE) for k in range(count)]
        recognition = Recognition(FaceDescriber()) if args.recognition else None
        job = SpeakersJob(args.input, speakers, models, aligner, options, recognition)
    reset = reset_peak_rss()
    start = time.perf_counter()
    result = job.write(args.output)
    return {"frames": result.frames, "faces": result.faces, "seconds": time.perf_counter() - start,
            "peak_rss": peak_rss(reset), "since_job": reset}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--vae", choices=("tiny", "real"), default="tiny")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--recognition", action="store_true", help="describe the face tracks (dlib) in the speakers cases")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(child(args)))
        return
    print(f"{args.frames} frames 640x360 at {FPS} fps, both faces in every frame; tiny UNet, {args.vae} VAE, 1 step; "
          f"{args.threads} thread(s); recognition {'on' if args.recognition else 'off (positions)'}")
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "two.mp4")
        write_clip(src, args.frames)
        for case in CASES:
            cmd = [sys.executable, os.path.abspath(__file__), "--case", case, "--input", src, "--output",
                   os.path.join(tmp, "out.mp4"), "--frames", str(args.frames), "--vae", args.vae,
                   "--threads", str(args.threads), *(["--recognition"] if args.recognition else [])]
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit(f"{case} failed:\n{proc.stderr[-2000:]}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{case:16s}: {r['frames']} frames, {r['faces']} faces lip-synced; peak RSS {r['peak_rss'] / 2**20:7.0f} MiB "
                  f"({'during the job' if r['since_job'] else 'of the process'}); {1000 * r['seconds'] / r['frames']:6.1f} ms "
                  "per frame", flush=True)


if __name__ == "__main__":
    main()
