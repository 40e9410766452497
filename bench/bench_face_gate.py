"""The human-face gate on its measurement set: real faces kept, non-human faces rejected, time per call.

Usage: OMP_NUM_THREADS=1 taskset -c 1 python bench/bench_face_gate.py [--set all|human|non-human] [--limit N]
       [--by-size] [--signals FILE.jsonl]

Each frame of ``bench/face_gate_set.py`` goes through today's detection (the MediaPipe
backend's ``detect``: whole-frame detector, mesh on a crop, the close-up whole-frame mesh
when the detector finds nothing); every face it returns is put to the gate. A human frame
counts as kept when the gate accepts the largest face found; a non-human frame counts as
accepted when the gate accepts any face found in it. Frames where detection found nothing
were never at risk and are counted apart ("found" column). Time per call is the gate's
CPU time (``measure`` on one face: crop, HOG, texture), mean and worst.
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
from latentsync_core.face.human_gate import HumanFaceGate  # noqa: E402
from latentsync_core.face.landmarks import get_backend  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="at most this many source images per non-human group")
    parser.add_argument("--signals", help="also write each face's signals as JSON lines to this file")
    parser.add_argument("--set", choices=("all", "human", "non-human"), default="all", help="which half of the set to run")
    parser.add_argument("--by-size", action="store_true", help="one row per source group and size")
    args = parser.parse_args()
    backend = get_backend("mediapipe")
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
                                       "variant": case.variant, "hog": signals.hog, "texture": signals.texture,
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
    if times:
        times_ms = sorted(t * 1000 for t in times)
        print(f"gate: {len(times)} calls, {sum(times_ms) / len(times_ms):.2f} ms CPU mean, "
              f"{times_ms[len(times_ms) // 2]:.2f} median, {times_ms[-1]:.2f} worst")


if __name__ == "__main__":
    main()
