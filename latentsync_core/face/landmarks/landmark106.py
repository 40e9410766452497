"""InsightFace 106-point landmark regressor (``2d106det.onnx``) run through onnxruntime.

The face box is cropped loosely: a square of side ``1.5 * max(w, h)`` centred on
the box is warped (scale + translation, bilinear, black border) to the model's
192 x 192 input. The model regresses 212 values = 106 ``(x, y)`` pairs in
``[-1, 1]`` crop coordinates; ``(p + 1) * 96`` gives crop pixels, and the inverse
warp gives frame pixels. ``2d106det`` normalises its input inside the graph
(its first nodes subtract and multiply), so the input mean is 0 and std 1.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ..geometry import apply_affine, invert_affine

CROP_SCALE = 1.5


def crop_transform(box: np.ndarray, size: int) -> np.ndarray:
    """``(2, 3)`` float64 affine from frame pixels to the ``size x size`` landmark crop.

    The crop is centred on the centre of ``box = (x1, y1, x2, y2)`` and spans
    ``CROP_SCALE * max(w, h)`` frame pixels; no rotation.
    """
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    scale = size / (max(x2 - x1, y2 - y1) * CROP_SCALE)
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    return np.array([[scale, 0.0, size / 2.0 - cx * scale], [0.0, scale, size / 2.0 - cy * scale]])


class Landmark106:
    """106-point 2D landmarks for one face box.

    Args:
        session: an ``onnxruntime.InferenceSession`` of ``2d106det.onnx`` (input
            ``(1, 3, S, S)``, one output of ``2 * 106`` values or more; the last 212 are used).
        input_mean, input_std: input normalisation ``(x - mean) / std`` applied before
            the model (0 and 1 for ``2d106det``, which normalises inside its graph).
    """

    num_points = 106

    def __init__(self, session: Any, input_mean: float = 0.0, input_std: float = 1.0) -> None:
        self.session = session
        model_input = session.get_inputs()[0]
        self.input_name = model_input.name
        self.size = int(model_input.shape[3])
        self.output_name = session.get_outputs()[0].name
        self.input_mean = input_mean
        self.input_std = input_std

    def predict(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """``(106, 2)`` float64 landmarks in ``image`` pixels for ``box = (x1, y1, x2, y2)``.

        ``image`` is ``(H, W, 3)`` uint8 in the channel order the model expects.
        """
        affine = crop_transform(box, self.size)
        crop = cv2.warpAffine(image, affine, (self.size, self.size), flags=cv2.INTER_LINEAR, borderValue=0)
        blob = ((crop.astype(np.float32) - self.input_mean) / self.input_std).transpose(2, 0, 1)[None]
        raw = self.session.run([self.output_name], {self.input_name: blob})[0].reshape(-1)
        return self.to_frame(raw, affine)

    def to_frame(self, raw: np.ndarray, affine: np.ndarray) -> np.ndarray:
        """Turn raw model output (``>= 212`` values in ``[-1, 1]``) into frame pixels.

        ``affine`` is the frame -> crop transform the crop was made with.
        """
        crop_points = raw.reshape(-1, 2)[-self.num_points :].astype(np.float64)
        crop_points = (crop_points + 1.0) * (self.size // 2)
        return apply_affine(invert_affine(affine), crop_points)
