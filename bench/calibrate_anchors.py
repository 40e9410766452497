"""Anchor calibration: MediaPipe's three template anchors against dlib's 68-point model.

Usage: python bench/calibrate_anchors.py

Needs ``dlib-bin`` and ``face-recognition-models`` (requirements-test.txt), whose
``shape_predictor_68_face_landmarks.dat`` is opened by path. Photos: the astronaut
(tests/data/astronaut.png, NASA, public domain; also scikit-image's ``astronaut``)
and matplotlib's ``sample_data/grace_hopper.jpg``, each also mirrored (the mirror
swaps which brow is which, so a one-sided bias of either model shows up).

dlib's anchors play InsightFace's part: brows = mean of 17-21 / 22-26 (the 68-point
slots LatentSync fills with InsightFace's brow picks), nose = mean of 29, 30, 31, 35
(lower bridge, tip, nostril wings: the 68-point places of InsightFace's 74, 86, 77, 83).
Per photo the similarity that puts dlib's anchors on the 256 template is fitted
and MediaPipe's anchors are mapped through it; the printed offsets are MediaPipe
minus dlib in template pixels at 256 (x right, y down).
"""
from __future__ import annotations

import importlib.util
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from latentsync_core.face.geometry import apply_affine, face_template, fit_similarity  # noqa: E402
from latentsync_core.face.landmarks import get_backend  # noqa: E402
from latentsync_core.face.landmarks.anchors import AnchorIndices  # noqa: E402
from latentsync_core.face.landmarks.mediapipe_backend import MEDIAPIPE_478  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DLIB_BROWS = (tuple(range(17, 22)), tuple(range(22, 27)))
DLIB_NOSE = (29, 30, 31, 35)
UPPER_BROWS = AnchorIndices(
    left_brow=(70, 63, 105, 66, 107), right_brow=(300, 293, 334, 296, 336), nose=MEDIAPIPE_478.nose, mouth=MEDIAPIPE_478.mouth
)
"""The mapping before calibration: the upper brow contours only."""


def photos() -> dict[str, np.ndarray]:
    """The real photos available offline, RGB uint8."""
    import matplotlib

    paths = {
        "astronaut": os.path.join(ROOT, "tests", "data", "astronaut.png"),
        "grace_hopper": os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data", "grace_hopper.jpg"),
    }
    return {name: cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB) for name, path in paths.items()}


def dlib_predictor():
    """dlib's frontal face detector and 68-point shape predictor (from face_recognition_models' folder)."""
    import dlib

    models = os.path.join(os.path.dirname(importlib.util.find_spec("face_recognition_models").origin), "models")
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(os.path.join(models, "shape_predictor_68_face_landmarks.dat"))


def dlib_anchors(image: np.ndarray, detector, predictor) -> np.ndarray:
    """``(3, 2)`` anchors of the largest face dlib finds in ``image``."""
    rect = max(detector(image, 1), key=lambda r: r.area())
    shape = predictor(image, rect)
    points = np.array([(shape.part(i).x, shape.part(i).y) for i in range(68)], dtype=np.float64)
    return np.stack([points[list(DLIB_BROWS[0])].mean(0), points[list(DLIB_BROWS[1])].mean(0), points[list(DLIB_NOSE)].mean(0)])


def anchor_offsets(image: np.ndarray, mappings: list[AnchorIndices], backend, detector, predictor) -> list[np.ndarray]:
    """Per mapping, ``(3, 2)`` MediaPipe - dlib anchor offsets in 256-template pixels."""
    reference = dlib_anchors(image, detector, predictor)
    to_template = fit_similarity(reference, face_template(256), smoothing=0.0).matrix
    points = backend.detect(image)[0].points
    target = apply_affine(to_template, reference)
    return [apply_affine(to_template, mapping.anchors(points)) - target for mapping in mappings]


def main() -> None:
    backend = get_backend("mediapipe")
    detector, predictor = dlib_predictor()
    mappings = {"upper brow contours (before)": UPPER_BROWS, "calibrated (MEDIAPIPE_478)": MEDIAPIPE_478}
    offsets = {name: [] for name in mappings}
    print("MediaPipe - dlib anchor offset, template px at 256: left brow (x, y), right brow (x, y), nose (x, y)")
    for name, photo in photos().items():
        for mirrored in (False, True):
            image = np.ascontiguousarray(photo[:, ::-1]) if mirrored else photo
            label = f"{name}{' mirrored' if mirrored else ''}"
            for (mapping_name, found) in zip(mappings, anchor_offsets(image, list(mappings.values()), backend, detector, predictor)):
                offsets[mapping_name].append(found)
                print(f"  {label:24s} {mapping_name:30s} " + "  ".join(f"({x:+5.2f}, {y:+5.2f})" for x, y in found))
    for name, found in offsets.items():
        stack = np.stack(found)
        mean, spread = stack.mean(0), stack.std(0)
        rms = np.sqrt((np.linalg.norm(stack, axis=2) ** 2).mean(0))
        print(f"{name}: mean offset " + "  ".join(f"({x:+.2f}, {y:+.2f})" for x, y in mean)
              + " | sd " + "  ".join(f"({x:.2f}, {y:.2f})" for x, y in spread)
              + " | rms distance " + "  ".join(f"{r:.2f}" for r in rms))


if __name__ == "__main__":
    main()
