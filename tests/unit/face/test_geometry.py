"""Template geometry and the crop warp against LatentSync's own AlignRestore.

Fixture tests/data/align_reference.npz: made by running bytedance/LatentSync
(a229c39) ``latentsync.utils.affine_transform.AlignRestore(resolution,
device="cpu", dtype=torch.float32).align_warp_face(astronaut, points,
smooth=True)`` on tests/data/astronaut.png (kornia 0.9.0, torch 2.14.1, CPU),
for a 3-frame smoothed sequence at 256, one frame at 512, and one crop that
runs off the image; ``face_*`` is the reference's ``cv2.resize(crop, (res,
res), INTER_LANCZOS4)``. Keys: ``points_*`` (frames, 3, 2) inputs,
``affine_*`` (frames, 2, 3), ``crop_*`` and ``face_*`` uint8.
"""
import os

import numpy as np
import pytest
import torch

from latentsync_core.face.geometry import apply_affine, crop_size, face_template, fit_similarity, invert_affine
from latentsync_core.face.warp import aligned_face, resize_crop, warp_to_crop
from clips import DATA, astronaut

REF = np.load(os.path.join(DATA, "align_reference.npz"))


def test_template_and_crop_sizes():
    assert crop_size(256) == (210, 280)
    assert crop_size(512) == (420, 560)
    np.testing.assert_allclose(face_template(256), [[47.6, 56.0], [162.4, 56.0], [105.0, 112.0]])


@pytest.mark.parametrize("case,res", [("256", 256), ("512", 512), ("edge", 256)])
def test_affine_and_crop_match_reference(case, res):
    img = astronaut()
    offset = None
    for i, points in enumerate(REF[f"points_{case}"]):
        fit = fit_similarity(points, face_template(res), offset)
        offset = fit.nose_offset
        np.testing.assert_allclose(fit.matrix, REF[f"affine_{case}"][i], atol=1e-4)
        crop = warp_to_crop(img, fit.matrix, crop_size(res))
        diff = np.abs(crop.astype(int) - REF[f"crop_{case}"][i])
        assert diff.max() <= 1, f"frame {i}: max abs diff {diff.max()} (> 1/255)"
        if f"face_{case}" in REF:
            face = resize_crop(crop, res)
            assert np.abs(face.astype(int) - REF[f"face_{case}"][i]).max() <= 1


def test_fit_recovers_a_known_similarity():
    template = face_template(256)
    angle = np.deg2rad(17.0)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = template @ (2.3 * rot).T + [300.0, 120.0]
    fit = fit_similarity(points, template, smoothing=0.0)
    np.testing.assert_allclose(fit.matrix[:, :2], rot.T / 2.3, atol=1e-12)
    # without rotation the normalised nose offset is 0, so the template is hit exactly
    shifted = template * 2.3 + [300.0, 120.0]
    fit = fit_similarity(shifted, template)
    np.testing.assert_allclose(apply_affine(fit.matrix, shifted), template, atol=1e-9)
    np.testing.assert_allclose(apply_affine(invert_affine(fit.matrix), template), shifted, atol=1e-9)


@pytest.mark.parametrize(
    "points",
    [np.zeros((3, 2)), np.full((3, 2), 7.0), np.array([[1, 1], [np.nan, 2], [3, 3]], dtype=float), np.array([[1e308, 0], [-1e308, 0], [0, 1e308]])],
)
def test_degenerate_points_give_no_fit(points):
    with np.errstate(all="ignore"):
        assert fit_similarity(points, face_template(256)) is None


def test_smoothing_blends_the_nose_offset():
    template = face_template(256)
    a = REF["points_256"][0]
    b = REF["points_256"][1]
    first = fit_similarity(a, template)
    second = fit_similarity(b, template, first.nose_offset, smoothing=0.2)
    alone = fit_similarity(b, template)
    np.testing.assert_allclose(second.nose_offset, 0.2 * first.nose_offset + 0.8 * alone.nose_offset)


def test_remembered_aligned_faces_are_those_a_fresh_warp_makes():
    """aligned_face keeps the faces it made by a digest of what the warp read: a float frame finds the face its
    uint8 twin made, and a changed pixel under the crop or a changed transform gives a freshly made face."""
    img = astronaut()
    fit = fit_similarity(REF["points_256"][0], face_template(256))
    size = crop_size(256)

    def fresh(frame, affine):
        return resize_crop(warp_to_crop(frame, affine, size), 256)

    face = aligned_face(img, fit.matrix, size, 256)
    np.testing.assert_array_equal(face, fresh(img, fit.matrix))
    assert not face.flags.writeable
    assert aligned_face(torch.from_numpy(img).float() / 255.0, fit.matrix, size, 256, remember=False) is face
    x, y = np.round(apply_affine(invert_affine(fit.matrix), face_template(256)[2:])[0]).astype(int)
    touched = img.copy()
    touched[y, x] ^= 0xFF
    changed = aligned_face(touched, fit.matrix, size, 256)
    np.testing.assert_array_equal(changed, fresh(touched, fit.matrix))
    assert (changed != face).any()
    moved = fit.matrix + np.array([[0.0, 0.0, 1e-9], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(aligned_face(img, moved, size, 256), fresh(img, moved))
    assert aligned_face(img, moved, size, 256, remember=False) is not face
