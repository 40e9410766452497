"""Time of each stage of ``python -m latentsync_core eval`` on the sample clip.

Prints seconds and frames per second for: the first pass (decode, MediaPipe
alignment, image metrics against the clip itself as source), the SyncNet crops
and lip embeddings of the second pass, and the MFCC + audio embeddings. Uses
``--syncnet FILE`` when given, else seeded random weights of the same
architecture (the time does not depend on the values).

Run from the repository root::

    python bench/bench_eval.py [--video example_workflows/sample/astronaut_speech.mp4] [--syncnet FILE]
        [--device cpu] [--threads 1]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from latentsync_core.face.aligner import FaceAligner  # noqa: E402
from latentsync_core.face.landmarks import get_backend  # noqa: E402
from latentsync_core.media.video_io import probe, read_windows  # noqa: E402
from latentsync_core.metrics import sync_eval  # noqa: E402
from latentsync_core.metrics.evaluate import QualityEvaluator  # noqa: E402
from latentsync_core.metrics.pcm import read_pcm16k  # noqa: E402
from latentsync_core.metrics.syncnet import SyncNet, load_syncnet  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=os.path.join(ROOT, "example_workflows", "sample", "astronaut_speech.mp4"))
    parser.add_argument("--syncnet", default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.syncnet:
        model = load_syncnet(args.syncnet, device)
    else:
        torch.manual_seed(0)
        model = SyncNet().to(device).eval()
    info = probe(args.video)
    aligner = FaceAligner(get_backend("mediapipe"))
    evaluator = QualityEvaluator(float(info.fps), lambda f: aligner.align(f)[1])

    t0 = time.perf_counter()
    for w in read_windows(info):
        evaluator.add(w.frames, w.frames)
    t1 = time.perf_counter()
    pcm = read_pcm16k(args.video)
    timing = {"audio_embedding": 0.0}
    original = sync_eval.embed_audio

    def timed_audio(*a, **k):
        start = time.perf_counter()
        out = original(*a, **k)
        timing["audio_embedding"] = time.perf_counter() - start
        return out

    import latentsync_core.metrics.evaluate as evaluate_module

    evaluate_module.embed_audio = timed_audio
    sync, note = evaluator.score_sync(model, pcm, lambda: (w.frames for w in read_windows(info)), device)
    t2 = time.perf_counter()
    n = evaluator.frames
    windows = sync.scores.windows if sync else 0
    print(f"{os.path.basename(args.video)}: {n} frames {info.width}x{info.height} @ {float(info.fps):.2f} fps, "
          f"device {device}, {args.threads} thread(s)")
    print(f"pass 1 (decode, align, image metrics): {t1 - t0:7.2f} s  {n / (t1 - t0):6.1f} frames/s")
    lips = t2 - t1 - timing["audio_embedding"]
    print(f"pass 2 (decode, crops, lip embeddings): {lips:7.2f} s  {windows / max(lips, 1e-9):6.1f} windows/s")
    print(f"MFCC + audio embeddings:               {timing['audio_embedding']:7.2f} s")
    print(f"total: {t2 - t0:.2f} s; sync: {'%d windows' % windows if sync else note}")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
