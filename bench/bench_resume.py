"""Resume: a lip-sync job killed (SIGKILL) at about 70 % of its sampling, then run again: the work redone.

Usage: python bench/bench_resume.py [--frames 200] [--segment-seconds 2] [--kill-at 0.7] [--steps 2]

Random-weight models (the tiny LatentSync UNet and VAE, a Whisper of Whisper tiny's size: bench/lipsync_models.py)
over a talking-head clip at 25 fps, written losslessly (``crf=0``). The job runs once uninterrupted; then in a
child process that is killed with SIGKILL once its sampler has done ``--kill-at`` of its steps; then again in this
process, which continues after the child's last finished segment. Printed: the sampler steps of the whole job, those
the child had done when killed, those the restart did again (done by the child but not in a finished segment), as a
fraction of the job and of one segment, the wall times, and whether the output equals the uninterrupted one.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from dataclasses import replace
from fractions import Fraction

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_face_path import moving_clip  # noqa: E402
from lipsync_models import tiny_models, tone  # noqa: E402
from latentsync_core.face.aligner import FaceAligner  # noqa: E402
from latentsync_core.face.landmarks import get_backend  # noqa: E402
from latentsync_core.job import JobOptions, LipSyncJob  # noqa: E402
from latentsync_core.lipsync.sampler import SamplerSettings  # noqa: E402
from latentsync_core.media.video_io import VideoInfo, VideoWriter, probe, read_windows  # noqa: E402
from latentsync_core.run.hooks import STAGE_SAMPLE  # noqa: E402

FPS = Fraction(25)
RATE = 16000


def job(clip: str, frames: int, options: JobOptions, **hooks) -> LipSyncJob:
    """The benchmark's job: the same models, speech and settings in every process."""
    return LipSyncJob(clip, tone(frames / float(FPS), RATE), RATE, tiny_models("tiny"), FaceAligner(get_backend("mediapipe")),
                      options, **hooks)


def child(clip: str, frames: int, options: JobOptions, out: str, stop: int, ready: str) -> None:
    """Run the job; once the sampler has done ``stop`` steps, write them to ``ready`` and wait to be killed."""
    torch.set_num_threads(1)

    def progress(stage: str, done: int, total: int) -> None:
        if stage == STAGE_SAMPLE and done >= stop:
            with open(ready + ".tmp", "w") as file:
                file.write(str(done))
            os.replace(ready + ".tmp", ready)
            time.sleep(3600)

    job(clip, frames, options, on_progress=progress).write(out)


class Steps:
    """The sampler progress of a run: its first and last ``done`` and the total."""

    def __init__(self) -> None:
        self.first, self.last, self.total = None, 0, 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == STAGE_SAMPLE:
            self.first = done if self.first is None else self.first
            self.last, self.total = done, total


def decode(path: str) -> np.ndarray:
    return np.concatenate([w.frames for w in read_windows(probe(path))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--segment-seconds", type=float, default=2.0)
    parser.add_argument("--kill-at", type=float, default=0.7)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    options = JobOptions(sampler=SamplerSettings(steps=args.steps, guidance_scale=1.0), crf=0,
                         segment_seconds=args.segment_seconds)
    with tempfile.TemporaryDirectory() as folder:
        clip = os.path.join(folder, "clip.mkv")
        frames = (moving_clip(320, 240, args.frames).numpy() * 255).round().astype(np.uint8)
        info = VideoInfo(clip + ".none", 320, 240, FPS, 1 / FPS, 0, args.frames, None, None)
        with VideoWriter(clip, info, crf=0) as writer:
            writer.write(frames, np.arange(args.frames))
        whole, out = os.path.join(folder, "whole.mkv"), os.path.join(folder, "out.mkv")
        full = Steps()
        t0 = time.perf_counter()
        job(clip, args.frames, replace(options, segment_seconds=0), on_progress=full).write(whole)
        t_whole = time.perf_counter() - t0
        stop = round(args.kill_at * full.total)
        ready = os.path.join(folder, "ready")
        process = multiprocessing.get_context("spawn").Process(
            target=child, args=(clip, args.frames, options, out, stop, ready), daemon=True)
        t0 = time.perf_counter()
        process.start()
        while not os.path.exists(ready) and process.is_alive():
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.join()
        t_killed = time.perf_counter() - t0
        with open(ready) as file:
            at_kill = int(file.read())
        work = os.path.join(folder, ".out.mkv.work")
        finished = sum(name[:6].isdigit() and name.endswith(".json") for name in os.listdir(work))
        again = Steps()
        t0 = time.perf_counter()
        job(clip, args.frames, options, on_progress=again).write(out)
        t_again = time.perf_counter() - t0
        redone = at_kill - (again.first - 1)
        chunks = -(-args.frames // options.sampler.chunk_size)
        cut = -(-round(args.segment_seconds * float(FPS)) // options.sampler.chunk_size) * args.steps
        same = np.array_equal(decode(out), decode(whole))
    print(f"{args.frames} frames, {chunks} chunks x {args.steps} steps = {full.total} sampler steps; segments of "
          f"{args.segment_seconds:g} s = {cut} steps")
    print(f"killed at {at_kill}/{full.total} steps ({at_kill / full.total:.0%}), {finished} segments finished")
    print(f"restart: sampled steps {again.first}..{again.last}; redone {redone} steps = {redone / full.total:.1%} of the "
          f"job = {redone / cut:.2f} segment")
    print(f"wall: uninterrupted {t_whole:.1f} s, killed run {t_killed:.1f} s (incl. process start), restart "
          f"{t_again:.1f} s (pass 1 and the audio plan redone); output equal to the uninterrupted one: {same}")


if __name__ == "__main__":
    main()
