"""Face selection (LatentSync's size/score filter), anchor rounding, hull ring, face-alignment mapping."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from latentsync_core.errors import MissingDependencyError
from latentsync_core.face.landmarks import FaceFilter, FaceLandmarks, get_backend, largest_face
from latentsync_core.face.landmarks.anchors import AnchorIndices, extent_box, hull_ring
from latentsync_core.face.landmarks.face_alignment_backend import FACE_ALIGNMENT_68, landmarks_68


def _face(box, score=0.9) -> FaceLandmarks:
    pts = np.array([box[:2], box[2:]], dtype=float)
    return FaceLandmarks(
        points=pts, anchors=np.zeros((3, 2)), mouth=np.zeros((4, 2)), bbox=np.array(box, float), score=score
    )


def test_filter_applies_latentsync_bounds():
    keep = FaceFilter()
    assert keep.accepts(_face([0, 0, 100, 120]))
    assert not keep.accepts(_face([0, 0, 49.9, 120])), "width 49 (truncated) < 50"
    assert not keep.accepts(_face([0, 0, 60, 79])), "height < 80"
    assert not keep.accepts(_face([0, 0, 200, 100])), "w / h = 2 > 1.5"
    assert not keep.accepts(_face([0, 0, 50, 300])), "w / h = 0.17 < 0.2"
    assert not keep.accepts(_face([0, 0, 100, 120], score=0.4)), "score < 0.5"
    faces = [_face([0, 0, 10, 10]), _face([0, 0, 100, 120]), _face([5, 5, 205, 205])]
    assert keep(faces) == [faces[1], faces[2]]


def test_largest_face_picks_the_biggest_box_first_on_ties():
    a, b, c = _face([0, 0, 100, 100]), _face([0, 0, 120, 150]), _face([10, 10, 130, 160])
    assert largest_face([a, b, c]) is b
    assert largest_face([]) is None


def test_reference_rounding_rounds_points_then_means():
    scheme = AnchorIndices(left_brow=(0, 1), right_brow=(2,), nose=(3,), mouth=(0, 1, 2, 3))
    pts = np.array([[0.4, 0.4], [1.4, 1.4], [5.5, 2.0], [3.2, 7.8]])
    # Rounded points: (0, 0), (1, 1) -> mean 0.5 -> rounds to 0 (half to even, as numpy/LatentSync).
    np.testing.assert_array_equal(scheme.anchors(pts, round_like_reference=True), [[0, 0], [6, 2], [3, 8]])
    np.testing.assert_allclose(scheme.anchors(pts), [[0.9, 0.9], [5.5, 2.0], [3.2, 7.8]])


def test_hull_ring_is_evenly_spaced_clockwise_from_the_leftmost_point():
    inner = np.array([[4.0, 3.0], [6.0, 5.0]])
    square = np.array([[10.0, 0.0], [10.0, 10.0], [0.0, 10.0], [0.0, 0.0]])
    ring = hull_ring(np.concatenate([inner, square]), 8)
    expected = [[0, 0], [5, 0], [10, 0], [10, 5], [10, 10], [5, 10], [0, 10], [0, 5]]
    np.testing.assert_allclose(ring, expected, atol=1e-12)
    np.testing.assert_array_equal(extent_box(square), [0, 0, 10, 10])


def test_face_alignment_68_mapping():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 200, (68, 2))
    face = landmarks_68(pts, np.array([1.0, 2.0, 150.0, 190.0, 0.97]), 0.97)
    np.testing.assert_allclose(face.anchors[0], pts[17:22].mean(0))
    np.testing.assert_allclose(face.anchors[1], pts[22:27].mean(0))
    np.testing.assert_allclose(face.anchors[2], pts[[29, 30, 31, 35]].mean(0))
    np.testing.assert_allclose(face.mouth, pts[48:60])
    np.testing.assert_allclose(face.bbox, [1, 2, 150, 190])
    assert face.score == pytest.approx(0.97) and FACE_ALIGNMENT_68.mouth_is_ring
    with pytest.raises(ValueError, match="68 landmarks"):
        landmarks_68(pts[:60], np.zeros(4), 1.0)


def test_face_alignment_missing_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "face_alignment", None)
    with pytest.raises(MissingDependencyError, match="pip install face-alignment"):
        get_backend("face_alignment")
