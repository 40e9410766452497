"""The aligner following the person of a reference picture (face recognition), on real photographs.

Two people side by side (tests/support/speaker_clips.py), then the same two swapped after a cut, then
the other one alone: with a picture of Grace Hopper as the reference, the aligner keeps her face in
every shot, wherever she stands, and finds no face where she is not.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from latentsync_core.face.aligner import FaceAligner
from latentsync_core.face.landmarks import get_backend
from latentsync_core.face.reference_face import ReferenceFace
from speaker_clips import face_box, tile, two_person_clip


@pytest.fixture(scope="module")
def backend():
    return get_backend("mediapipe")


def test_the_reference_persons_face_is_followed_across_cuts_and_places(backend):
    frames, who = two_person_clip()
    keep = [0, 1, 3, 4, 6, 7]  # both (hopper right), both swapped (hopper left), the astronaut alone
    frames, who = frames[keep], [who[i] for i in keep]
    reference = ReferenceFace(tile("hopper"), backend)
    aligner = FaceAligner(backend, selection="index", face_index=0, reference=reference)
    alignment = aligner.locate(torch.from_numpy(frames).float() / 255)
    r = alignment.resolution
    for i, places in enumerate(who):
        assert alignment.has_face[i] == ("hopper" in places), i
        if alignment.has_face[i]:
            m = np.vstack([alignment.aligned_affines()[i], [0, 0, 1]])
            x, y = (np.linalg.inv(m) @ np.array([r / 2, r / 2, 1.0]))[:2]
            x0, y0, x1, y1 = face_box(places["hopper"])
            assert x0 <= x <= x1 and y0 <= y <= y1, f"frame {i}: not her face"
    assert reference.signature != ReferenceFace(tile("astronaut"), backend).signature
