"""The human-face gate (issue 15, "Human faces only"): real faces kept, cartoon faces rejected.

Real faces: tests/data/astronaut.png (NASA, public domain) and matplotlib's grace_hopper.jpg
(US Navy, public domain). Non-human faces: tests/data/face_gate/ (see its LICENCES.txt):
Noto Color Emoji renders (SIL OFL 1.1) and two Open Clip Art portraits (public domain),
faces that MediaPipe's detector and mesh take for human faces today (the clip art and some
emoji also score like real faces on dlib's HOG). Frames are built at test time by
bench/face_gate_set.py.
"""
from __future__ import annotations

import glob
import os

import cv2
import numpy as np
import pytest
import torch

from bench import face_gate_set
from latentsync_core.face.aligner import FaceAligner
from latentsync_core.face.geometry import box_iou
from latentsync_core.face.human_gate import HumanFaceGate, TrackGate, upright_crop
from latentsync_core.face.landmarks import get_backend
from repo_paths import DATA as TEST_DATA

DATA = os.path.join(TEST_DATA, "face_gate")
CARTOONS = sorted(glob.glob(os.path.join(DATA, "*.png")))


@pytest.fixture(scope="module")
def backend():
    with get_backend("mediapipe") as b:
        yield b


@pytest.fixture(scope="module")
def gate():
    """One gate for the module, as one serves a whole job (its detector loads once, ~0.7 s)."""
    return HumanFaceGate()


def cartoon_frame(path: str, height: float) -> np.ndarray:
    """The cartoon at ``path`` pasted ``height`` x the frame height tall, centred, on the set's background."""
    rgba = cv2.cvtColor(cv2.imread(path, cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
    h, w = rgba.shape[:2]
    scale = height * face_gate_set.FRAME_H / h
    centre = (face_gate_set.FRAME_W / 2, face_gate_set.FRAME_H / 2)
    return face_gate_set.paste_into_frame(face_gate_set.background(7), rgba, scale, centre, (w / 2, h / 2))


def test_gate_keeps_real_faces_from_8_percent_to_close_ups(backend, gate):
    cases = list(face_gate_set.human_cases(backend, fractions=(0.08, 0.8), variants=("plain", "grayscale", "rot-12"),
                                           photos=("astronaut", "grace_hopper")))
    assert len(cases) == 12
    checked = 0
    for case in cases:
        faces = backend.detect(case.frame)
        if not faces:  # never at risk: detection finds no face (the gate cannot lose it)
            continue
        checked += 1
        assert gate.check(case.frame, faces[0]), f"{case.name} {case.size} {case.variant}: real face rejected ({gate.measure(case.frame, faces[0])})"
    assert checked >= 10


@pytest.mark.parametrize("path", CARTOONS, ids=os.path.basename)
def test_gate_rejects_cartoon_faces_the_detector_takes_for_human(backend, gate, path):
    found = 0
    for height in (0.5, 0.9):
        frame = cartoon_frame(path, height)
        for face in backend.detect(frame):
            found += 1
            assert not gate.check(frame, face), f"{os.path.basename(path)} at {height}: accepted ({gate.measure(frame, face)})"
            assert HumanFaceGate(allow_stylised=True).check(frame, face)
    assert found, "the detector no longer finds this cartoon: pick a fixture it still takes for a face"


def test_gate_reads_float_frames_and_faces_cut_by_the_frame_edge(backend, gate):
    case = next(face_gate_set.human_cases(backend, fractions=(0.8,), variants=("plain",), photos=("astronaut",)))
    face = backend.detect(case.frame)[0]
    assert face.bbox[1] < 0  # the close-up overflows the frame
    as_float = torch.from_numpy(case.frame).float() / 255
    np.testing.assert_array_equal(upright_crop(as_float, face), upright_crop(case.frame, face))
    assert gate.check(as_float, face)


@pytest.mark.parametrize("follow", [True, False], ids=["follow", "detect"])
def test_aligner_with_gate_leaves_a_cartoon_cutaway_and_asks_once_per_track(backend, gate, follow):
    head = next(face_gate_set.human_cases(backend, fractions=(0.3,), variants=("plain",), photos=("astronaut",))).frame
    cartoon = cartoon_frame(os.path.join(DATA, "emoji_1F466.png"), 0.9)
    frames = torch.from_numpy(np.stack([head] * 4 + [cartoon] * 4 + [head] * 4)).float() / 255
    ungated = FaceAligner(backend, follow=follow).locate(frames)
    assert ungated.has_face[4:8].any()  # today's path calls the cartoon a face
    calls = gate.calls
    gated = FaceAligner(backend, follow=follow, human_gate=gate).locate(frames)
    assert gated.has_face.tolist() == [True] * 4 + [False] * 4 + [True] * 4
    assert gate.calls - calls == 3  # the head, the cartoon, the head again after the cut back


def test_track_gate_remembers_a_verdict_and_checks_again_after_recheck_every(backend, gate):
    case = next(face_gate_set.human_cases(backend, fractions=(0.2,), variants=("plain",), photos=("grace_hopper",)))
    face = backend.detect(case.frame)[0]
    calls = gate.calls
    tracks = TrackGate(gate, box_iou, 0.2, max_gap=4, recheck_every=50)
    assert all(tracks.human(case.frame, face, i) for i in range(60))
    assert gate.calls - calls == 2  # frames 0 and 50
    tracks.reset()
    assert tracks.human(case.frame, face, 60) and gate.calls - calls == 3
    assert tracks.human(case.frame, face, 66) and gate.calls - calls == 4  # unseen for more than max_gap + 1 frames: a new track
