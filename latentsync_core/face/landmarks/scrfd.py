"""SCRFD face detector (InsightFace ``det_10g.onnx``) run through onnxruntime.

The network sees a letterboxed square (the frame resized to fit, keeping its
aspect ratio, placed at the top-left of a black ``input_size`` canvas),
normalised as ``(x - 127.5) / 128``. For each feature stride ``s`` it outputs,
per location and anchor (locations row-major, anchors of one location
adjacent):

* scores ``(H/s * W/s * A, 1)``, already sigmoid-ed, in ``[0, 1]``;
* box distances ``(.., 4)`` (left, top, right, bottom) in units of ``s``
  from the anchor centre ``(x * s, y * s)``;
* optionally five keypoints ``(.., 10)`` as ``(dx, dy)`` offsets in units of ``s``.

Output lists are grouped by kind, then stride: 6 outputs = strides 8/16/32
without keypoints, 9 = with keypoints (``det_10g``: 2 anchors per location);
10 / 15 = strides 8..128 with one anchor. A batch axis of 1 in front is accepted.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

_LAYOUTS = {6: (3, False), 9: (3, True), 10: (5, False), 15: (5, True)}
_STRIDES = (8, 16, 32, 64, 128)


@dataclass(frozen=True)
class Detections:
    """Faces found by the detector, in source-frame pixels, best score first.

    Attributes:
        boxes: ``(N, 4)`` float64 ``x1, y1, x2, y2``.
        scores: ``(N,)`` float64 in ``[0, 1]``.
        keypoints: ``(N, 5, 2)`` float64 (eyes, nose, mouth corners) or ``None``.
    """

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray | None

    def __len__(self) -> int:
        return int(self.scores.shape[0])


def letterbox(frame: np.ndarray, input_size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Fit ``frame`` into a black ``input_size = (width, height)`` canvas at its top-left.

    Returns the ``(height, width, 3)`` uint8 canvas and the scale (canvas px per frame px).
    The resized side lengths are truncated to integers, as InsightFace does.
    """
    in_w, in_h = input_size
    h, w = frame.shape[:2]
    if h / w > in_h / in_w:
        new_h = in_h
        new_w = int(new_h / (h / w))
    else:
        new_w = in_w
        new_h = int(new_w * (h / w))
    new_w, new_h = max(new_w, 1), max(new_h, 1)
    canvas = np.zeros((in_h, in_w, 3), dtype=np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(frame, (new_w, new_h))
    return canvas, new_h / h


def anchor_centers(height: int, width: int, stride: int, num_anchors: int) -> np.ndarray:
    """``(height * width * num_anchors, 2)`` float64 ``(x, y)`` anchor centres of one stride.

    Locations are row-major; the ``num_anchors`` anchors of one location are adjacent.
    """
    ys, xs = np.mgrid[:height, :width]
    centers = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float64) * stride
    return np.repeat(centers, num_anchors, axis=0)


def decode_boxes(centers: np.ndarray, distances: np.ndarray) -> np.ndarray:
    """``(N, 4)`` boxes from centres ``(N, 2)`` and left/top/right/bottom distances ``(N, 4)``."""
    return np.concatenate([centers - distances[:, :2], centers + distances[:, 2:4]], axis=1)


def decode_keypoints(centers: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``(N, K, 2)`` keypoints from centres ``(N, 2)`` and ``(dx, dy)`` offsets ``(N, 2K)``."""
    return centers[:, None, :] + offsets.reshape(offsets.shape[0], offsets.shape[1] // 2, 2)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, best score first.

    Boxes are pixel-inclusive (a box ``x1..x2`` covers ``x2 - x1 + 1`` pixels), as in
    InsightFace. A box is dropped when its IoU with a kept, better box exceeds ``iou_threshold``.
    """
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        iw = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        ih = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        inter = iw * ih
        iou = inter / (areas[best] + areas[rest] - inter)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


class ScrfdDetector:
    """SCRFD face detector on an onnxruntime session.

    Args:
        session: an ``onnxruntime.InferenceSession`` of an SCRFD model (e.g. ``det_10g.onnx``).
        input_size: ``(width, height)`` of the letterbox canvas when the model input is
            dynamic (LatentSync uses 512 x 512); a model with a fixed input size uses its own.
        score_threshold: minimum face score in ``[0, 1]``.
        nms_threshold: IoU above which a weaker overlapping box is dropped.
    """

    def __init__(
        self,
        session: Any,
        input_size: tuple[int, int] = (512, 512),
        score_threshold: float = 0.5,
        nms_threshold: float = 0.4,
    ) -> None:
        self.session = session
        model_input = session.get_inputs()[0]
        self.input_name = model_input.name
        height, width = model_input.shape[2:4]
        fixed = isinstance(height, int) and isinstance(width, int)
        self.input_size = (width, height) if fixed else tuple(input_size)
        self.output_names = [o.name for o in session.get_outputs()]
        if len(self.output_names) not in _LAYOUTS:
            raise ValueError(
                f"SCRFD model has {len(self.output_names)} outputs; expected 6, 9, 10 or 15 "
                "(scores, boxes[, keypoints] per stride)."
            )
        levels, self.has_keypoints = _LAYOUTS[len(self.output_names)]
        self.strides = _STRIDES[:levels]
        self.num_anchors = 2 if levels == 3 else 1
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold

    def detect(self, image: np.ndarray) -> Detections:
        """Find faces in ``image``, ``(H, W, 3)`` uint8 in the channel order the model expects."""
        canvas, scale = letterbox(image, self.input_size)
        blob = ((canvas.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]
        outputs = self.session.run(self.output_names, {self.input_name: blob})
        boxes, scores, keypoints = self.decode(outputs, canvas.shape[0], canvas.shape[1])
        keep = nms(boxes, scores, self.nms_threshold)
        return Detections(
            boxes=boxes[keep] / scale,
            scores=scores[keep],
            keypoints=keypoints[keep] / scale if keypoints is not None else None,
        )

    def decode(
        self, outputs: list[np.ndarray], height: int, width: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Turn raw outputs for a ``height x width`` canvas into canvas-pixel candidates.

        Returns boxes ``(N, 4)``, scores ``(N,)`` and keypoints ``(N, 5, 2)`` (or ``None``)
        of every anchor scoring at least ``score_threshold``, before NMS.
        """
        levels = len(self.strides)
        boxes, scores, keypoints = [], [], []
        for level, stride in enumerate(self.strides):
            score = _unbatch(outputs[level]).reshape(-1)
            centers = anchor_centers(height // stride, width // stride, stride, self.num_anchors)
            if score.shape[0] != centers.shape[0]:
                raise ValueError(
                    f"SCRFD stride {stride}: {score.shape[0]} scores for {centers.shape[0]} anchors."
                )
            hit = score >= self.score_threshold
            distances = _unbatch(outputs[levels + level]).reshape(-1, 4)[hit] * stride
            boxes.append(decode_boxes(centers[hit], distances.astype(np.float64)))
            scores.append(score[hit].astype(np.float64))
            if self.has_keypoints:
                offsets = _unbatch(outputs[2 * levels + level]).reshape(score.shape[0], -1)[hit] * stride
                keypoints.append(decode_keypoints(centers[hit], offsets.astype(np.float64)))
        return (
            np.concatenate(boxes),
            np.concatenate(scores),
            np.concatenate(keypoints) if self.has_keypoints else None,
        )


def _unbatch(output: np.ndarray) -> np.ndarray:
    """Drop a leading batch axis of 1 from a 3-D SCRFD output."""
    return output[0] if output.ndim == 3 else output
