"""The human-face gate on its measurement set: real faces kept, non-human faces rejected, time per call.

Usage: OMP_NUM_THREADS=1 taskset -c 1 python bench/bench_face_gate.py [--set all|human|non-human] [--limit N]
       [--by-size] [--signals FILE.jsonl]

Each frame of ``bench/face_gate_set.py`` goes through today's detection (the MediaPipe
backend's ``detect``: whole-frame detector, mesh on a crop, the close-up whole-frame mesh
when the detector finds nothing); every face it returns is put to the gate. A human frame
counts as kept when the gate accepts the largest face found; a non-human frame counts as
accepted when the gate accepts any face found in it. Frames where detection found nothing
were never at risk and are counted apart ("found" column). Time per call is the gate's
CPU time (``measure`` on one face: crop, HOG, flatness, colour spread), mean and worst.

``--path`` instead times the face path with and without the gate: ``FaceAligner.locate``
on bench_face_path.py's moving 720p talking head (following, and detecting every frame),
runs interleaved, the fastest of ``--repeats`` each, in CPU time.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import face_gate_set  # noqa: E402
from bench_face_path import moving_clip  # noqa: E402
from latentsync_core.face.aligner import FaceAligner  # noqa: E402
from latentsync_core.face.human_gate import HumanFaceGate  # noqa: E402
from latentsync_core.face.landmarks import get_backend  # noqa: E402


def path_speed(backend, frames: int, repeats: int) -> None:
    """Print the face path's CPU ms/frame with and without the gate (interleaved runs).

    One gate serves every gated run, as one serves a whole job; its one-off detector load
    is printed apart.
    """
    clip = moving_clip(1280, 720, frames)
    FaceAligner(backend).locate(clip[:2])  # warm-up: model load
    gate = HumanFaceGate()
    start = time.process_time()
    FaceAligner(backend, human_gate=gate).locate(clip[:1])
    print(f"gate: first call (detector load) {(time.process_time() - start) * 1000:.0f} ms CPU, once per gate")
    for follow in (True, False):
        best = {False: float("inf"), True: float("inf")}
        calls = gate.calls
        for _ in range(repeats):
            for gated in (False, True):
                start = time.process_time()
                FaceAligner(backend, follow=follow, human_gate=gate if gated else None).locate(clip)
                best[gated] = min(best[gated], time.process_time() - start)
        mode = "follow" if follow else "detect every frame"
        off, on = (best[g] * 1000 / frames for g in (False, True))
        print(f"720p {mode:>18}: {off:7.2f} ms/frame without the gate, {on:7.2f} with ({on / off - 1:+.1%}; "
              f"{(gate.calls - calls) / repeats:.0f} gate calls per {frames} frames)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="at most this many source images per non-human group")
    parser.add_argument("--signals", help="also write each face's signals as JSON lines to this file")
    parser.add_argument("--set", choices=("all", "human", "non-human"), default="all", help="which half of the set to run")
    parser.add_argument("--path", action="store_true", help="time the face path with and without the gate instead")
    parser.add_argument("--frames", type=int, default=30, help="--path: frames of the clip")
    parser.add_argument("--repeats", type=int, default=3, help="--path: runs of each, the fastest counts")
    parser.add_argument("--by-size", action="store_true", help="one row per source group and size")
    args = parser.parse_args()
    backend = get_backend("mediapipe")
    if args.path:
        path_speed(backend, args.frames, args.repeats)
        return
    gate = HumanFaceGate()
    sink = open(args.signals, "w") if args.signals else None
    rows: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])  # frames, found, gate accepted
    times: list[float] = []
    human = face_gate_set.human_cases(backend) if args.set != "non-human" else ()
    nonhuman = face_gate_set.nonhuman_cases(face_gate_set.nonhuman_sources(args.limit)) if args.set != "human" else ()
    for case in itertools.chain(human, nonhuman):
        faces = backend.detect(case.frame)
        if case.human:
            faces = faces[:1]  # the largest: the face the aligner picks
        accepted = False
        for face in faces:
            start = time.process_time()
            signals = gate.measure(case.frame, face)
            times.append(time.process_time() - start)
            human = gate.accepts(signals)
            accepted |= human
            if sink:
                sink.write(json.dumps({"human": case.human, "group": case.group, "name": case.name, "size": case.size,
                                       "variant": case.variant, "hog": signals.hog, "flat": signals.flat, "spread": signals.spread,
                                       "score": face.score, "width": float(face.bbox[2] - face.bbox[0]), "accepted": human}) + "\n")
                sink.flush()
        key = (case.human, case.group, case.size if args.by_size else "all sizes")
        row = rows[key]
        row[0] += 1
        row[1] += bool(faces)
        row[2] += accepted
    print(f"{'':9} {'source':<17} {'size':<11} {'frames':>6} {'found':>6} {'result':>22}")
    totals = {True: [0, 0, 0], False: [0, 0, 0]}
    for (human, group, size), (n, found, acc) in sorted(rows.items(), key=lambda kv: (not kv[0][0], kv[0][1], kv[0][2])):
        result = f"kept {acc}/{found}" if human else f"rejected {found - acc}/{found}"
        print(f"{'human' if human else 'non-human':9} {group:<17} {size:<11} {n:6d} {found:6d} {result:>22}")
        for i, v in enumerate((n, found, acc)):
            totals[human][i] += v
    n, found, acc = totals[True]
    print(f"human faces kept: {acc}/{found} (of {n} frames; {n - found} not found by detection)")
    n, found, acc = totals[False]
    print(f"non-human faces rejected: {found - acc}/{found} (of {n} frames; {n - found} without a detection)")
    if len(times) > 1:
        times_ms = sorted(t * 1000 for t in times[1:])
        print(f"gate: {len(times_ms)} calls after the first, {sum(times_ms) / len(times_ms):.2f} ms CPU mean, "
              f"{times_ms[len(times_ms) // 2]:.2f} median, {times_ms[-1]:.2f} worst; first call (detector load) {times[0] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
