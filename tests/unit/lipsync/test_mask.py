"""The template mouth mask against LatentSync's own ``mask.png``.

``tests/data/mask_reference.png`` is an unmodified copy of
``latentsync/utils/mask.png`` from bytedance/LatentSync (commit a229c39,
Apache-2.0): white = keep, black = regenerated mouth region, 256 x 256.
"""
import os

import cv2
import numpy as np
import pytest

from latentsync_core.errors import BadInputError
from latentsync_core.lipsync.mask import keep_mask
from repo_paths import DATA

REF = os.path.join(DATA, "mask_reference.png")


def _reference_keep(resolution: int) -> np.ndarray:
    """The reference's loading: BGR read, Lanczos resize of the uint8 image, / 255."""
    img = cv2.imread(REF)
    img = cv2.resize(img, (resolution, resolution), interpolation=cv2.INTER_LANCZOS4)
    return img[..., 0].astype(np.float32) / 255.0


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_mask_256_matches_reference_geometry():
    ours = keep_mask(256)
    ref = _reference_keep(256)
    assert ours.shape == (256, 256) and ours.dtype == np.float32
    assert set(np.unique(ours)) <= {0.0, 1.0}
    iou = _iou(ours < 0.5, ref < 0.5)
    assert iou >= 0.99, iou
    # About 41 % of the template is regenerated, and the nose notch is kept.
    assert abs((ours < 0.5).mean() - 0.407) < 0.005
    assert ours[110, 128] == 1.0 and ours[110, 40] == 0.0 and ours[200, 128] == 0.0 and ours[60, 128] == 1.0


def test_mask_512_is_the_lanczos_resized_template():
    ours = keep_mask(512)
    ref = _reference_keep(512)
    assert ours.shape == (512, 512)
    assert 0.0 <= ours.min() and ours.max() <= 1.0
    assert _iou(ours < 0.5, ref < 0.5) >= 0.99
    assert np.abs(ours - ref).mean() < 0.01


def test_mask_rejects_bad_resolution():
    with pytest.raises(BadInputError, match="multiple of 8"):
        keep_mask(250)
