"""Recognition of speakers on real photographs: the right speaker on each face of a two-person test clip.

Usage: OMP_NUM_THREADS=1 python bench/bench_face_identity.py [--sizes 140,220,340] [--shift 3] [--json FILE]
       [--detector mediapipe|insightface|hog] [--min-score S] [--clip FRAMES_PER_SHOT]

People: every offline photograph of a real person whose licence allows it, as
``bench/face_gate_set.py`` finds them installed (Eileen Collins, tests/data/astronaut.png,
NASA; Grace Hopper, matplotlib's grace_hopper.jpg, US Navy; the cameraman of
scikit-image's camera.png, CC0: public domain or CC0). Sources looked at and left out:
scikit-image's ``lfw_subset`` (25x25 crops of Labeled Faces in the Wild, news photographs
with no licence), the photographs in face_recognition's sdist (White House photographs
whose terms forbid altering them), ComfyUI's template thumbnails (generated images).

Each person's head (a square 2.2 face widths wide around dlib's HOG box on the photo) is
their speaker reference, described on that HOG box. The test clip (1280x720) shows two people side by side,
every ordered pair, each in one of ``face_gate_set``'s variants (plain, mirrored, darker,
brighter, warm, cool, low contrast, grayscale, JPEG-blocky, rotated +-12 degrees; the left
and right variants differ, ``--shift`` apart in that list) at each head size, on a grey
room. Every frame is on its own (the worst case: a face track's median over a few frames
only helps): faces found by the landmark backend (:class:`BackendFaces`, MediaPipe unless
``--detector``; or dlib's HOG detector), described by :class:`FaceDescriber`,
matched by :func:`match_speakers` to the pair's two references (``2 speakers``) and to all
references (``all speakers``). A face frame is right when its face is found and matched to
its own speaker; misses of the detector are counted apart. Also printed: the largest
distance from a person's variant to their reference and the smallest to another person's.
With ``--clip`` the same pairs and variants are a clip instead: one shot each, heads moving a
little from frame to frame, faces linked into tracks (:class:`TrackBuilder`, 3 descriptions
per track) and matched per shot (:func:`shot_speakers`); a face frame is right when its
track got its own speaker.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from face_gate_set import FRAME_H, FRAME_W, HUMAN_VARIANTS, _rotated, background, human_photos, variant  # noqa: E402
from latentsync_core.face.landmarks import get_backend  # noqa: E402
from latentsync_core.face.identity import BackendFaces, FaceDescriber, distance_matrix, match_speakers  # noqa: E402
from latentsync_core.face.tracks import TrackBuilder, shot_speakers  # noqa: E402


def head_of(photo: np.ndarray, side: int = 320) -> tuple[np.ndarray, np.ndarray]:
    """The head crop around the photo's best HOG face and that face's box in the crop."""
    import dlib

    rects, scores, _ = dlib.get_frontal_face_detector().run(photo, 1, -1.0)
    rect = rects[int(np.argmax(scores))]
    x0, y0, x1, y1 = rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1
    half = 1.1 * (x1 - x0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    scale = side / (2 * half)
    m = np.array([[scale, 0, side / 2 - cx * scale], [0, scale, side / 2 - cy * scale]])
    head = cv2.warpAffine(photo, m, (side, side), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    box = np.array([x0, y0, x1, y1], float) * scale + np.array([m[0, 2], m[1, 2], m[0, 2], m[1, 2]])
    return head, box


def variant_of(head: np.ndarray, box: np.ndarray, name: str) -> np.ndarray:
    return _rotated(head, box, float(name[3:])) if name.startswith("rot") else variant(head, name)


def two_person_frame(left: np.ndarray, right: np.ndarray, side: int, seed: int, jitter: np.ndarray | None = None) -> np.ndarray:
    """Two heads side by side; ``jitter`` ``(2, 3)``: each head's shift x, y (px) and scale factor."""
    frame = background(seed)
    jitter = np.array([[0, 0, 1.0], [0, 0, 1.0]]) if jitter is None else jitter
    for (centre_x, head), (dx, dy, zoom) in zip(((FRAME_W * 0.3, left), (FRAME_W * 0.7, right)), jitter):
        size = int(round(side * zoom))
        h = cv2.resize(head, (size, size), interpolation=cv2.INTER_AREA if size < head.shape[0] else cv2.INTER_CUBIC)
        x, y = int(centre_x + dx - size / 2), int(FRAME_H / 2 + dy - size / 2)
        frame[y : y + size, x : x + size] = h
    return frame


def run_clip(args, people: dict, describer: FaceDescriber, detector, refs: np.ndarray) -> None:
    """The test clip: one shot per ordered pair and variant, ``--clip`` frames each, heads moving a little;
    faces linked into tracks, each track described on 3 frames (median), matched per shot."""
    names = list(people)
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = np.random.default_rng(0)
    faces = 0
    right = {"2 speakers": 0, "all speakers": 0}
    wrong = {"2 speakers": 0, "all speakers": 0}
    found = 0
    frames_done = 0
    start = time.process_time()
    for shot, ((i, p), (j, q), (k, var)) in enumerate(
        itertools.product(enumerate(names), enumerate(names), enumerate(HUMAN_VARIANTS))
    ):
        if i == j:
            continue
        var_right = HUMAN_VARIANTS[(k + args.shift) % len(HUMAN_VARIANTS)]
        left, right_head = variant_of(*people[p], var), variant_of(*people[q], var_right)
        side = sizes[shot % len(sizes)]
        builder = TrackBuilder(describer, samples=3, sample_every=max(args.clip // 3, 1))
        for f in range(args.clip):
            jitter = np.column_stack([rng.uniform(-6, 6, 2), rng.uniform(-4, 4, 2), rng.uniform(0.96, 1.04, 2)])
            frame = two_person_frame(left, right_head, side, seed=shot, jitter=jitter)
            builder.add(f, frame, detector(frame), f == 0)
            frames_done += 1
        tracks = builder.close()
        faces += 2 * args.clip
        found += sum(len(t.frames) for t in tracks)
        for key, speakers, ids in (("2 speakers", refs[[i, j]], [i, j]), ("all speakers", refs, list(range(len(names))))):
            for track, who in zip(tracks, shot_speakers(tracks, speakers)):
                truth = i if (track.boxes[0][0] + track.boxes[0][2]) / 2 < FRAME_W / 2 else j
                if who is not None and ids[who] == truth:
                    right[key] += len(track.frames)
                elif who is not None:
                    wrong[key] += len(track.frames)
    seconds = time.process_time() - start
    print(f"test clip: {frames_done} frames in {frames_done // args.clip} shots, {faces} face frames, "
          f"{found} of them found ({100 * found / faces:.1f} %); "
          f"CPU {seconds / max(frames_done, 1):.2f} s per frame")
    for key, value in right.items():
        print(f"right speaker, {key}: {value}/{faces} face frames ({100 * value / faces:.2f} %), "
              f"{value}/{found} found ({100 * value / max(found, 1):.2f} %); wrong speaker {wrong[key]}")


def hog_boxes(min_score: float, max_side: int = 960):
    """dlib's HOG frontal-face detector (upsampled once, on the frame shrunk to ``max_side``), boxes left to right."""
    import dlib

    detector = dlib.get_frontal_face_detector()

    def detect(frame: np.ndarray) -> list[tuple[int, int, int, int]]:
        scale = min(1.0, max_side / max(frame.shape[:2]))
        small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else frame
        rects, _, _ = detector.run(small, 1, min_score)
        boxes = [tuple(int(round(v / scale)) for v in (r.left(), r.top(), r.right() + 1, r.bottom() + 1)) for r in rects]
        return sorted(boxes, key=lambda b: (b[0] + b[2]) / 2)

    return detect


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="140,220,340", help="head sizes in pixels (the face is 45 %% of it)")
    parser.add_argument("--shift", type=int, default=3, help="the right face's variant is this many places after the left's")
    parser.add_argument("--detector", choices=("mediapipe", "insightface", "hog"), default="mediapipe",
                        help="who finds the faces: a landmark backend (BackendFaces, as the job and the faces command), "
                             "or dlib's HOG detector")
    parser.add_argument("--min-score", type=float, default=0.3, help="the HOG detector's smallest score (default 0.3)")
    parser.add_argument("--clip", type=int, default=0,
                        help="instead: a test clip of shots of this many frames, faces in tracks described once per track")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    people = {name: head_of(photo) for name, photo, _ in human_photos()}
    names = list(people)
    describer, detector = FaceDescriber(), (
        hog_boxes(args.min_score) if args.detector == "hog" else BackendFaces(get_backend(args.detector))
    )
    refs = np.stack([describer.describe(h, tuple(int(v) for v in b)) for h, b in people.values()])
    if args.clip:
        return run_clip(args, people, describer, detector, refs)
    print(f"faces found by {args.detector}; {len(names)} people: {', '.join(names)}; {len(HUMAN_VARIANTS)} variants; head sizes {sizes}")

    faces = found = 0
    right = {"2 speakers": 0, "all speakers": 0}
    same, other = [], []
    start = time.process_time()
    frames = 0
    misses: dict[tuple[str, str, int], int] = {}
    extra = 0
    for (i, p), (j, q) in itertools.permutations(enumerate(names), 2):
        for k, var in enumerate(HUMAN_VARIANTS):
            var_right = HUMAN_VARIANTS[(k + args.shift) % len(HUMAN_VARIANTS)]
            left, right_head = variant_of(*people[p], var), variant_of(*people[q], var_right)
            for side in sizes:
                frame = two_person_frame(left, right_head, side, seed=frames)
                frames += 1
                boxes = detector(frame)
                emb = describer.describe_many(frame, boxes)
                truth = [i if (b[0] + b[2]) / 2 < FRAME_W / 2 else j for b in boxes]
                faces += 2
                found += len(set(truth))  # a slot counts once
                extra += len(truth) - len(set(truth))
                for who, var_name in ((i, var), (j, var_right)):
                    if who not in truth:
                        misses[names[who], var_name, side] = misses.get((names[who], var_name, side), 0) + 1
                pair = match_speakers(emb, refs[[i, j]])
                every = match_speakers(emb, refs)
                for t, a2, a_all, e in zip(truth, pair, every, emb):
                    right["2 speakers"] += a2 is not None and [i, j][a2] == t
                    right["all speakers"] += a_all == t
                    d = distance_matrix(e[None], refs)[0]
                    same.append(float(d[t]))
                    other.append(float(np.delete(d, t).min()))
    seconds = time.process_time() - start
    result = {
        "people": names, "frames": frames, "face_frames": faces, "found": found, "extra_boxes": extra,
        "right_2_speakers": right["2 speakers"], "right_all_speakers": right["all speakers"],
        "max_same_distance": max(same), "min_other_distance": min(other),
        "cpu_s_per_frame": seconds / max(frames, 1),
    }
    print(f"{frames} frames, {faces} face frames; found by the detector {found} ({100 * found / faces:.1f} %), "
          f"{extra} more boxes than faces")
    for key, value in right.items():
        print(f"right speaker, {key}: {value}/{faces} of all face frames ({100 * value / faces:.2f} %), "
              f"{value}/{found} of found faces ({100 * value / max(found, 1):.2f} %)")
    print(f"distance to own reference: max {max(same):.3f}; to another person's: min {min(other):.3f} "
          f"(threshold 0.6); CPU {result['cpu_s_per_frame']:.2f} s per frame (detect + describe)")
    for key in ("person", "variant", "size"):
        at = {"person": 0, "variant": 1, "size": 2}[key]
        counts: dict = {}
        for miss, n in misses.items():
            counts[miss[at]] = counts.get(miss[at], 0) + n
        print(f"detector misses by {key}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=str)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
