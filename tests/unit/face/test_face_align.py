"""FaceAligner on synthetic clips of a real face (mediapipe backend)."""
import numpy as np
import pytest
import torch

from latentsync_core.errors import BadInputError
from latentsync_core.face.aligner import FaceAligner
from latentsync_core.face.geometry import apply_affine, face_template, fit_similarity, invert_affine
from latentsync_core.face.landmarks import get_backend
from clips import astronaut, cutaway, jitter_affines, render, to_frames

BASE = np.array([[1.0, 0.0, 64.0], [0.0, 1.0, -16.0]])


@pytest.fixture(scope="module")
def backend():
    return get_backend("mediapipe")


@pytest.fixture(scope="module")
def photo_face(backend):
    faces = backend.detect(astronaut())
    assert len(faces) == 1
    return faces[0]


def template_in_source(affine: np.ndarray, res: int = 256) -> np.ndarray:
    return apply_affine(invert_affine(affine), face_template(res))


def test_recovered_transforms_follow_known_jitter(backend, photo_face):
    affines = jitter_affines(12, seed=1, base=BASE)
    frames = render(astronaut(), affines)
    _, alignment = FaceAligner(backend, smoothing=0.0).align(frames)
    assert alignment.has_face.all()
    landmark_err, transform_err = [], []
    for i, jitter in enumerate(affines):
        true_points = apply_affine(jitter, photo_face.points)
        landmark_err.append(np.linalg.norm(alignment.landmarks[i] - true_points, axis=1).mean())
        # the transform fitted to the truly moved anchors, mapped back to the frame
        expected = fit_similarity(apply_affine(jitter, photo_face.anchors), face_template(256), smoothing=0.0)
        err = np.linalg.norm(template_in_source(alignment.affines[i]) - template_in_source(expected.matrix), axis=1)
        transform_err.append(err.max())
    landmark_err, transform_err = np.array(landmark_err), np.array(transform_err)
    report = f"landmark error px mean {landmark_err.mean():.2f} max {landmark_err.max():.2f}; template-point error px max {transform_err.max():.2f}"
    print(report)
    assert landmark_err.max() < 3.0, report
    assert transform_err.max() < 4.0, report


def test_no_face_frames_are_flagged_and_short_dropouts_bridged(backend, photo_face):
    affines = jitter_affines(3, seed=2, base=BASE)
    face = (render(astronaut(), affines).numpy() * 255).astype(np.uint8)
    # a two-frame dropout inside the shot (the face covered, the rest of the frame as before) is bridged
    x0, y0, x1, y1 = apply_affine(affines[1], photo_face.bbox.reshape(2, 2)).ravel().astype(int)
    covered = face[1].copy()
    covered[y0:y1, x0:x1] = 40
    frames = to_frames([face[0], face[1], covered, covered, face[2], cutaway(seed=1), cutaway(seed=2), face[0]])
    aligned, alignment = FaceAligner(backend, max_gap=4).align(frames)
    assert list(alignment.has_face) == [True, True, True, True, True, False, False, True]
    assert list(alignment.interpolated) == [False, False, True, True, False, False, False, False]
    t = 1 / 3
    np.testing.assert_allclose(alignment.affines[2], (1 - t) * alignment.affines[1] + t * alignment.affines[4])
    # no-face frames get a neutral gray aligned face
    assert torch.all(aligned[5] == 127 / 255)


def test_cutaway_resets_smoothing_and_does_not_bridge(backend):
    affines = jitter_affines(2, seed=3, base=BASE)
    face = (render(astronaut(), affines).numpy() * 255).astype(np.uint8)
    frames = to_frames([face[0], cutaway(seed=3), face[1]])
    _, alignment = FaceAligner(backend, max_gap=4).align(frames)
    assert list(alignment.has_face) == [True, False, True]
    fresh = FaceAligner(backend).align(to_frames([face[1]]))[1]
    np.testing.assert_allclose(alignment.affines[2], fresh.affines[0], atol=1e-9)


def _two_faces(shift: int = 0) -> np.ndarray:
    photo = astronaut()
    canvas = np.full((512, 1024, 3), 30, np.uint8)
    canvas[:, shift : shift + 512] = photo
    other = photo[:, ::-1, ::-1]  # mirrored, colours swapped: another "person"
    canvas[:, 512:] = other
    return canvas


def test_selection_by_index_and_follow(backend):
    frames = to_frames([_two_faces(), _two_faces(), _two_faces()])
    _, left = FaceAligner(backend, selection="index", face_index=0).align(frames)
    _, right = FaceAligner(backend, selection="index", face_index=1).align(frames)
    left_x = template_in_source(left.affines[0])[:, 0].mean()
    right_x = template_in_source(right.affines[0])[:, 0].mean()
    assert left_x < 512 < right_x
    # the followed face stays the same person across a cut
    seq = to_frames([_two_faces()[:, 512:].copy(), cutaway((512, 512)), _two_faces()[:, :512].copy(), _two_faces()[:, 512:].copy()])
    _, follow = FaceAligner(backend, selection="follow_first").align(seq)
    assert list(follow.has_face) == [True, False, False, True]


@pytest.mark.parametrize("channels", [1, 4])
def test_gray_and_rgba_are_accepted(backend, channels):
    rgb = to_frames([astronaut()])
    frames = rgb.mean(-1, keepdim=True) if channels == 1 else torch.cat([rgb, torch.ones_like(rgb[..., :1])], -1)
    aligned, alignment = FaceAligner(backend).align(frames)
    assert aligned.shape == (1, 256, 256, 3) and alignment.has_face.all()


def test_tiny_and_faceless_inputs_pass(backend):
    _, alignment = FaceAligner(backend).align(torch.rand(2, 16, 16, 3))
    assert not alignment.has_face.any()
    aligned, alignment = FaceAligner(backend, resolution=512).align(torch.zeros(1, 64, 64, 3))
    assert aligned.shape == (1, 512, 512, 3) and not alignment.has_face.any()


@pytest.mark.parametrize(
    "frames,message",
    [(torch.zeros(0, 64, 64, 3), "empty"), (torch.zeros(2, 64, 64, 2), "channels"), (torch.zeros(64, 64), "shape")],
)
def test_bad_frames_are_named(backend, frames, message):
    with pytest.raises(BadInputError, match=message):
        FaceAligner(backend).align(frames)


def test_bad_options_are_named(backend):
    with pytest.raises(BadInputError, match="resolution"):
        FaceAligner(backend, resolution=300)
    with pytest.raises(BadInputError, match="selection"):
        FaceAligner(backend, selection="random")


def test_state_continues_across_calls(backend):
    affines = jitter_affines(4, seed=4, base=BASE)
    frames = render(astronaut(), affines)
    _, whole = FaceAligner(backend).align(frames)
    streamed = FaceAligner(backend)
    parts = [streamed.align(frames[:2])[1], streamed.align(frames[2:])[1]]
    np.testing.assert_allclose(np.concatenate([p.affines for p in parts]), whole.affines, atol=1e-9)


def _spy(backend, monkeypatch):
    """Record which backend method ran on each call: ``"detect"`` or ``"follow"`` (a miss: ``"follow-miss"``)."""
    calls = []
    for method in ("detect", "follow"):
        real = getattr(type(backend), method)

        def spy(*args, real=real, method=method):
            result = real(backend, *args)
            calls.append(method + ("-miss" if result is None else ""))
            return result

        monkeypatch.setattr(backend, method, spy)
    return calls


def test_following_detects_only_to_acquire_and_matches_detection(backend, monkeypatch):
    frames = render(astronaut(), jitter_affines(10, seed=5, base=BASE))
    calls = _spy(backend, monkeypatch)
    _, followed = FaceAligner(backend, smoothing=0.0).align(frames)
    assert calls == ["detect"] + ["follow"] * 9
    _, detected = FaceAligner(backend, smoothing=0.0, follow=False).align(frames)
    assert followed.has_face.all() and detected.has_face.all()
    err = [np.linalg.norm(template_in_source(a) - template_in_source(b), axis=1).max() for a, b in zip(followed.affines, detected.affines)]
    assert max(err) < 2.0, np.round(err, 2)


def test_following_passes_faceless_frames_untouched(backend, photo_face, monkeypatch):
    from latentsync_core.face.paste import paste_back

    affines = jitter_affines(4, seed=6, base=BASE)
    face = (render(astronaut(), affines).numpy() * 255).astype(np.uint8)
    # the same shot (no cut), the face painted over with a smooth cartoon-like texture: the mesh alone would fit it
    painted = []
    for k in (2, 3):
        x0, y0, x1, y1 = apply_affine(affines[k], photo_face.bbox.reshape(2, 2)).ravel().astype(int)
        frame = face[k].copy()
        frame[y0:y1, x0:x1] = cutaway((x1 - x0, y1 - y0), seed=k)
        painted.append(frame)
    frames = to_frames([face[0], face[1], *painted])
    calls = _spy(backend, monkeypatch)
    aligned, alignment = FaceAligner(backend).align(frames)
    assert list(alignment.has_face) == [True, True, False, False]
    assert calls == ["detect", "follow", "follow-miss", "detect", "detect"]
    pasted = paste_back(frames, aligned * 0.9, alignment)
    assert not pasted[:2].equal(frames[:2])
    assert pasted[2:].equal(frames[2:])
