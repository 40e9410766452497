"""Mouth region of interest: cut from the aligned face, pasted back after restoration.

Boxes are squares in aligned-face pixel coordinates (pixel centres at
integers); output pixel ``j`` of a crop of size ``S`` samples the aligned face
at ``x0 + (j + 0.5) * side / S - 0.5``. A box may extend past the face edge
(border pixels are replicated).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .alignment import Alignment
from ..errors import BadInputError
from .frames import check_same_length
from .geometry import apply_affine

# Mouth box used when a face frame has no mouth landmarks, as fractions of
# the aligned face (centre x, centre y, side); measured on the template.
_TEMPLATE_MOUTH_BOX = (0.5, 0.58, 0.5)


@dataclass
class MouthROI:
    """Mouth crops of ``N`` frames and where they came from.

    Attributes:
        crops: ``[N, S, S, 3]`` float32 0..1; gray for invalid frames.
        boxes: ``(N, 4)`` float64 ``x0, y0, x1, y1`` squares in aligned-face pixels.
        valid: ``(N,)`` bool, False for frames without a face.
        source_size: ``(N,)`` float64, side of the box in source-frame pixels
            (the larger of its two axes): the detail the source holds.
        resolution: side of the aligned face the boxes refer to.
        changed: ``(N,)`` bool, True where the crop differs from the one cut from
            the face (a restorer changed it); only those are pasted back, so a
            frame whose crop was left alone (e.g. skipped by ``sr_ratio``) comes
            back bit-identical. None (a hand-made ROI): every valid crop is new.
    """

    crops: torch.Tensor
    boxes: np.ndarray
    valid: np.ndarray
    source_size: np.ndarray
    resolution: int
    changed: np.ndarray | None = None

    @property
    def target_size(self) -> int:
        return int(self.crops.shape[1])

    def __len__(self) -> int:
        return int(self.valid.shape[0])

    def pasted(self) -> np.ndarray:
        """``(N,)`` bool: the crops the paste blends into their faces (valid and changed)."""
        return self.valid if self.changed is None else self.valid & self.changed

    def replace_crops(self, crops: torch.Tensor) -> "MouthROI":
        """A copy holding ``crops`` (same ``[N, S, S, 3]`` shape) instead.

        A crop counts as changed when it differs from this ROI's crop in any
        value (or was changed already).
        """
        if tuple(crops.shape) != tuple(self.crops.shape):
            raise BadInputError(
                f"restored mouth crops have shape {tuple(crops.shape)}, expected {tuple(self.crops.shape)}."
            )
        new = crops.float().clamp(0.0, 1.0)
        differs = (new != self.crops.to(new.device)).flatten(1).any(dim=1).cpu().numpy()
        changed = differs if self.changed is None else self.changed | differs
        return dataclasses.replace(self, crops=new, changed=changed)


def _crop_to_face_map(box: np.ndarray, size: int) -> np.ndarray:
    """``(2, 3)`` map from crop pixels to aligned-face pixels."""
    r = (box[2] - box[0]) / size
    return np.array([[r, 0.0, box[0] + 0.5 * r - 0.5], [0.0, r, box[1] + 0.5 * r - 0.5]])


def mouth_boxes(alignment: Alignment, margin: float = 0.15) -> np.ndarray:
    """``(N, 4)`` square mouth boxes in aligned-face pixels.

    The box is the outer-lip extent, made square on its longer side and
    grown by ``margin`` of that side on every edge. Frames without mouth
    landmarks get the template's mouth box.
    """
    res = alignment.resolution
    cx, cy, side = (v * res for v in _TEMPLATE_MOUTH_BOX)
    boxes = np.tile([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], (len(alignment), 1)).astype(np.float64)
    if alignment.mouth.shape[1] == 0:
        return boxes
    pts = apply_affine(alignment.aligned_affines(), alignment.mouth)
    known = np.all(np.isfinite(pts), axis=(1, 2))
    lo, hi = pts[known].min(axis=1), pts[known].max(axis=1)
    centre = (lo + hi) / 2
    half = (hi - lo).max(axis=1, keepdims=True) * (0.5 + margin)
    boxes[known] = np.concatenate([centre - half, centre + half], axis=1)
    return boxes


def source_side(alignment: Alignment, boxes: np.ndarray) -> np.ndarray:
    """``(N,)`` side of each box measured in source-frame pixels (longer axis)."""
    linear = alignment.aligned_affines()[:, :, :2]
    axis_scale = np.linalg.norm(linear, axis=2)
    return (boxes[:, 2] - boxes[:, 0]) / np.maximum(axis_scale.min(axis=1), 1e-12)


def crop_mouth(aligned: torch.Tensor, alignment: Alignment, target_size: int = 512, margin: float = 0.15) -> MouthROI:
    """Cut the mouth box of every face frame at ``target_size``.

    Args:
        aligned: ``[N, res, res, 3]`` float 0..1 aligned faces.
        alignment: the alignment of those faces.
        target_size: side of the output crops (512 for the restorers).
        margin: extra border around the lips, as a fraction of the lip extent.
    """
    check_same_length(aligned.shape[0], len(alignment), "mouth ROI")
    if aligned.shape[1:3] != (alignment.resolution, alignment.resolution):
        raise BadInputError(
            f"mouth ROI: aligned faces are {tuple(aligned.shape[1:3])} but the alignment is at "
            f"{alignment.resolution}; connect the aligned faces of this alignment."
        )
    if target_size < 16:
        raise BadInputError(f"mouth ROI: target size must be at least 16, got {target_size}.")
    boxes = mouth_boxes(alignment, margin)
    crops = torch.full((len(alignment), target_size, target_size, 3), 0.5)
    valid = alignment.has_face.copy()
    for i in np.flatnonzero(valid):
        face = aligned[i].cpu().numpy().astype(np.float32)
        crop = cv2.warpAffine(
            face,
            _crop_to_face_map(boxes[i], target_size),
            (target_size, target_size),
            flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        crops[i] = torch.from_numpy(np.clip(crop, 0.0, 1.0))
    return MouthROI(
        crops=crops, boxes=boxes, valid=valid, source_size=source_side(alignment, boxes), resolution=alignment.resolution,
        changed=np.zeros(len(alignment), dtype=bool),
    )


def roi_to_face(crop: np.ndarray, box: np.ndarray, resolution: int) -> np.ndarray:
    """Resample a ``(S, S, C)`` crop back into aligned-face pixels ``(res, res, C)``.

    The crop is first area-averaged to about the box size (no aliasing),
    then placed with a bilinear warp; outside the box the result is 0.
    """
    side = box[2] - box[0]
    size = max(2, int(np.ceil(side)))
    small = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA) if size < crop.shape[0] else crop
    return cv2.warpAffine(
        small,
        _crop_to_face_map(box, small.shape[0]),
        (resolution, resolution),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
