"""Face recognition with dlib's real ResNet descriptor on real photographs (issue 17).

The people: tests/data/astronaut.png (Eileen Collins) and matplotlib's grace_hopper.jpg,
both public domain (tests/support/people.py).
"""
from __future__ import annotations

import numpy as np
import pytest

from clips import cutaway
from latentsync_core.errors import BadInputError
from latentsync_core.face.identity import (
    SAME_PERSON, BackendFaces, FaceDescriber, FacePosition, identity_distance,
    match_speakers, parse_reference, reference_embedding, unmatched_speakers,
)
from latentsync_core.face.landmarks import get_backend
from latentsync_core.face.shots import detect_shots, shot_of
from latentsync_core.face.tracks import TrackBuilder, shot_speakers, track_identities
from people import head, scene


@pytest.fixture(scope="module")
def describer() -> FaceDescriber:
    return FaceDescriber()


@pytest.fixture(scope="module")
def detector() -> BackendFaces:
    """Faces as the job finds them: the default landmark backend's, left to right."""
    backend = get_backend("mediapipe")
    yield BackendFaces(backend)
    backend.close()


def relit(image: np.ndarray, gain: float, gamma: float) -> np.ndarray:
    return np.clip(255 * (image / 255.0) ** gamma * gain, 0, 255).astype(np.uint8)


def mirrored(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(image[:, ::-1])


def test_same_person_under_mirror_and_relighting_is_closer_than_another_person(describer, detector):
    people = {name: head(name) for name in ("astronaut", "grace_hopper")}
    embeddings = {}
    for name, h in people.items():
        for variant, image in (("plain", h), ("mirrored", mirrored(h)), ("darker", relit(h, 0.7, 1.6)), ("brighter", relit(h, 1.0, 0.6))):
            frame = scene([image], seed=len(embeddings))
            (box,) = detector(frame)
            embeddings[name, variant] = describer.describe(frame, box)
    same = [identity_distance(a, b) for (p, _), a in embeddings.items() for (q, _), b in embeddings.items() if p == q]
    other = [identity_distance(a, b) for (p, _), a in embeddings.items() for (q, _), b in embeddings.items() if p != q]
    assert max(same) < SAME_PERSON < min(other)
    assert embeddings["astronaut", "plain"].shape == (128,) and embeddings["astronaut", "plain"].dtype == np.float32


def test_detector_lists_faces_left_to_right_and_describe_many_matches_describe(describer, detector):
    frame = scene([head("grace_hopper"), None, head("astronaut")])
    boxes = detector(frame)
    assert len(boxes) == 2 and boxes[0][2] < boxes[1][0] and boxes[0][2] < 640 / 3 < 2 * 640 / 3 < boxes[1][0]
    many = describer.describe_many(frame, boxes)
    assert many.shape == (2, 128)
    assert np.allclose(many[1], describer.describe(frame, boxes[1]), atol=1e-5)
    assert describer.describe_many(frame, []).shape == (0, 128)


def test_speakers_keep_their_faces_across_a_position_swap_and_an_unknown_face_is_none(describer, detector):
    a, g = head("astronaut"), head("grace_hopper")
    speakers = np.stack([reference_embedding(a, None, describer, detector), reference_embedding(g, None, describer, detector)])
    for heads, truth in (([a, g], [0, 1]), ([mirrored(g), relit(a, 0.8, 1.3)], [1, 0])):
        frame = scene(heads)
        assert match_speakers(describer.describe_many(frame, detector(frame)), speakers) == truth
    frame = scene([g, a])
    assert match_speakers(describer.describe_many(frame, detector(frame)), speakers[:1]) == [None, 0]


def test_match_speakers_rules():
    speakers = np.eye(128, dtype=np.float32)[:2]
    near = lambda s, d: speakers[s] + d * np.eye(128)[5]  # noqa: E731 - a point at distance d from speaker s
    tracks = np.stack([near(0, 0.3), near(0, 0.1), near(1, 0.7)])
    assert match_speakers(tracks, speakers) == [None, 0, None]  # speaker 0 once; track 2 too far
    one_after_other = np.array([[True, False, False], [False, True, False], [False, False, True]])
    assert match_speakers(tracks, speakers, concurrent=one_after_other) == [0, 0, None]
    assert match_speakers(tracks, speakers, threshold=0.8) == [None, 0, 1]
    assert unmatched_speakers([[None, 0], [0]], 2) == [1]


def test_references_by_position_and_their_errors(describer, detector):
    frames = [scene([head("astronaut"), head("grace_hopper")]), cutaway((640, 360))]
    frame_at = lambda n: frames[n] if n < len(frames) else None  # noqa: E731
    by_position = reference_embedding(FacePosition(0, 1), frame_at, describer, detector)
    by_image = reference_embedding(head("grace_hopper"), frame_at, describer, detector)
    assert identity_distance(by_position, by_image) < 0.2
    with pytest.raises(BadInputError, match=r"frame 0 shows 2 face\(s\), so there is no face 2"):
        reference_embedding(FacePosition(0, 2), frame_at, describer, detector)
    with pytest.raises(BadInputError, match="has no frame 7"):
        reference_embedding(FacePosition(7, 0), frame_at, describer, detector)
    with pytest.raises(BadInputError, match="shows no face"):
        reference_embedding(cutaway(), frame_at, describer, detector)


def test_parse_reference(tmp_path):
    assert parse_reference("120:1") == FacePosition(120, 1)
    assert str(FacePosition(120, 1)) == "120:1"
    import cv2

    path = tmp_path / "face.png"
    cv2.imwrite(str(path), cv2.cvtColor(head("astronaut"), cv2.COLOR_RGB2BGR))
    assert np.array_equal(parse_reference(str(path)), head("astronaut"))
    with pytest.raises(BadInputError, match="neither an image file nor FRAME:INDEX"):
        parse_reference(str(tmp_path / "missing.png"))


def test_shots_found_window_by_window():
    a, g = head("astronaut"), head("grace_hopper")
    frames = [scene([a, g], seed=0)] * 5 + [scene([g], seed=1) // 2] * 3 + [scene([g, a], seed=2)] * 4
    frames = np.stack(frames)
    expected = [(0, 5), (5, 8), (8, 12)]
    for size in (1, 4, 12):
        assert detect_shots(frames[i : i + size] for i in range(0, len(frames), size)) == expected
    assert detect_shots([]) == []
    assert [shot_of(expected, f) for f in (0, 4, 5, 11)] == [0, 0, 1, 2]


@pytest.mark.parametrize("cut_seen", [True, False])
def test_tracks_described_once_per_shot_follow_speakers_across_a_swap(describer, detector, cut_seen):
    """The two swap places on the same background: a cut the shot detector does not see ends the tracks too."""
    a, g = head("astronaut"), head("grace_hopper")
    frames = [scene([a, g], seed=0)] * 6 + [scene([g, a], seed=0)] * 6
    assert detect_shots([np.stack(frames)]) == [(0, 12)]
    starts = {6} if cut_seen else set()

    class Counting(FaceDescriber):
        calls = 0

        def describe_many(self, frame, boxes):
            Counting.calls += len(boxes)
            return describer.describe_many(frame, boxes)

    boxes = [detector(frames[0])] * 6 + [detector(frames[6])] * 6  # the frames repeat: detect once
    tracks = track_identities(((i, f, boxes[i], i in starts) for i, f in enumerate(frames)), Counting(), samples=2, sample_every=3)
    second = 1 if cut_seen else 0
    assert sorted((t.shot, t.frames[0], t.frames[-1]) for t in tracks) == [(0, 0, 5), (0, 0, 5), (second, 6, 11), (second, 6, 11)]
    assert Counting.calls == 8  # 2 samples per track, not one per frame
    speakers = np.stack([describer.describe(a, detector(a)[0]), describer.describe(g, detector(g)[0])])
    for first in (0, 6):
        of_part = sorted((t for t in tracks if t.frames[0] == first), key=lambda t: t.boxes[0][0])
        assert shot_speakers(of_part, speakers) == ([0, 1] if first == 0 else [1, 0])
    assert tracks[0].box_at(3) == tracks[0].boxes[3] and tracks[0].box_at(9) is None
    builder = TrackBuilder(describer, max_gap=1)
    assert builder.add(0, frames[0], detector(frames[0]), False) == []
    assert len(builder.add(4, frames[0], [], False)) == 2  # gone longer than max_gap: ended
