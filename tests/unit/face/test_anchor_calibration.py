"""The calibrated MediaPipe anchors agree with dlib's 68-point model on a real photo.

dlib (``dlib-bin`` + ``face-recognition-models``, both in requirements.txt) is an
independent landmark model with shipped weights; bench/calibrate_anchors.py
measures the offsets and the stated residual (anchors.py docstring).
"""
import importlib.util

import numpy as np
import pytest

pytest.importorskip("dlib")
if importlib.util.find_spec("face_recognition_models") is None:  # its __init__ needs pkg_resources: not imported
    pytest.skip("face-recognition-models is not installed (requirements.txt)", allow_module_level=True)

from bench.calibrate_anchors import UPPER_BROWS, anchor_offsets, dlib_predictor  # noqa: E402
from latentsync_core.face.landmarks import get_backend  # noqa: E402
from latentsync_core.face.landmarks.mediapipe_backend import MEDIAPIPE_478  # noqa: E402
from clips import astronaut  # noqa: E402

RESIDUAL_PX = 3.5
"""Largest MediaPipe - dlib anchor distance (256-template px) allowed on the astronaut photo."""


@pytest.mark.parametrize("mirrored", [False, True])
def test_calibrated_anchors_agree_with_dlib(mirrored):
    image = astronaut()
    image = np.ascontiguousarray(image[:, ::-1]) if mirrored else image
    detector, predictor = dlib_predictor()
    before, after = anchor_offsets(image, [UPPER_BROWS, MEDIAPIPE_478], get_backend("mediapipe"), detector, predictor)
    distance = np.linalg.norm(after, axis=1)
    assert distance.max() < RESIDUAL_PX, np.round(after, 2)
    # the upper contour alone sat clearly above dlib's brows; the calibrated brows do not
    assert before[:2, 1].mean() < -3.0 and abs(after[:2, 1].mean()) < 2.0, (np.round(before, 2), np.round(after, 2))
