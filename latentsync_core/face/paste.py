"""Pasting generated or restored faces back into the source frames.

Two steps per face frame:

1. (optional) a restored mouth ROI goes into the aligned face with a
   feathered square mask, colour-matched to the face around it; crops no
   restorer changed are not blended (a round trip through the ROI would
   blur the face), so frames skipped by ``sr_ratio`` stay bit-identical;
2. the aligned face goes back into the frame through the inverse affine,
   but only where it changed: ``region="auto"`` compares the face with the
   frame's own aligned crop and blends just the changed pixels (dilated and
   feathered), so an unchanged face leaves the frame bit-identical;
   ``"full_face"`` pastes the whole crop as the reference does. The blend is
   further limited by the reference's feathered, eroded crop footprint.

Only the frame window under the pasted region is touched; elsewhere the
output equals the input bit for bit.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import torch

from .alignment import Alignment
from .colour import match_colour
from ..errors import BadInputError
from .frames import as_rgb_frames, check_same_length
from .geometry import invert_affine
from .mouth_roi import MouthROI, roi_to_face
from .warp import aligned_face

PASTE_REGIONS = ("auto", "full_face")
_CHANGE_TOLERANCE = 0.5 / 255.0


def roi_feather(size: int, mask_smooth: float) -> np.ndarray:
    """``(size, size)`` float32 blend weight: 1 inside, easing to 0 at the edges.

    The ramp is ``mask_smooth * size / 4`` pixels wide (smoothstep);
    ``mask_smooth = 0`` gives a hard square.
    """
    dist = np.minimum(np.arange(size) + 0.5, size - 0.5 - np.arange(size))
    ramp = mask_smooth * size * 0.25
    t = np.clip(dist / ramp, 0.0, 1.0) if ramp > 0 else np.ones(size)
    line = t * t * (3.0 - 2.0 * t)
    return np.outer(line, line).astype(np.float32)


def paste_roi(face: np.ndarray, crop: np.ndarray, box: np.ndarray, mask_smooth: float, colour_match: str) -> np.ndarray:
    """Blend a ``(S, S, 3)`` mouth crop into a ``(res, res, 3)`` aligned face.

    Returns the new face, float32 0..1. Pixels outside the box are unchanged.
    """
    weight = roi_feather(crop.shape[0], mask_smooth)
    premult = np.concatenate([crop * weight[..., None], weight[..., None]], axis=-1).astype(np.float32)
    placed = roi_to_face(premult, box, face.shape[0])
    alpha = placed[..., 3]
    rgb = placed[..., :3] / np.maximum(alpha, 1e-6)[..., None]
    rgb = match_colour(rgb, face, alpha, colour_match)
    return face + alpha[..., None] * (rgb - face)


def changed_region(face: np.ndarray, original: np.ndarray, mask_smooth: float) -> np.ndarray:
    """``(res, res)`` float32 weight over the pixels where ``face`` differs from ``original``.

    Holes are closed, the region is grown by more than the feather so every
    changed pixel keeps a weight of about 1, then feathered with a Gaussian
    whose sigma grows with ``mask_smooth``.
    """
    res = face.shape[0]
    diff = cv2.absdiff(face, original)
    changed = (np.maximum(np.maximum(diff[..., 0], diff[..., 1]), diff[..., 2]) > _CHANGE_TOLERANCE).astype(np.uint8)
    if not changed.any():
        return np.zeros((res, res), dtype=np.float32)
    k = max(3, res // 64) | 1
    sigma = 0.5 + mask_smooth * res / 64.0
    closed = cv2.morphologyEx(changed, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    grow = k + 2 * int(np.ceil(2.0 * sigma))
    grown = cv2.dilate(closed, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow))).astype(np.float32)
    return cv2.GaussianBlur(grown, (0, 0), sigma)


def _frame_window(aligned_affine: np.ndarray, region: np.ndarray, h: int, w: int, margin: int) -> tuple[int, int, int, int] | None:
    """Frame box ``x0, y0, x1, y1`` (exclusive) under the pixels where ``region > 0``, or None when there are none."""
    x, y, bw, bh = cv2.boundingRect((region > 0).view(np.uint8))
    if bw == 0:
        return None
    corners = np.array([[x - 1, y - 1], [x + bw, y - 1], [x - 1, y + bh], [x + bw, y + bh]], dtype=np.float64)
    inverse = invert_affine(aligned_affine)
    mapped = corners @ inverse[:, :2].T + inverse[:, 2]
    x0 = int(np.clip(np.floor(mapped[:, 0].min()) - margin, 0, w))
    y0 = int(np.clip(np.floor(mapped[:, 1].min()) - margin, 0, h))
    x1 = int(np.clip(np.ceil(mapped[:, 0].max()) + margin + 1, 0, w))
    y1 = int(np.clip(np.ceil(mapped[:, 1].max()) + margin + 1, 0, h))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


@lru_cache(maxsize=4)
def soft_footprint(res: int) -> np.ndarray:
    """``(res, res)`` float32: the aligned face's blend weight at its own border.

    The reference erodes the warped crop mask by ``w_edge = sqrt(area) // 20``
    twice over and blurs it over ``2 * w_edge + 1`` pixels, in frame pixels;
    measured in aligned-face pixels that width is the same for every frame
    (``res // 20``), so the weight is built here once and warped with the face.
    """
    w_edge = res // 20
    pad = 2 * w_edge + 2
    canvas = np.zeros((res + 2 * pad, res + 2 * pad), np.float32)
    canvas[pad:-pad, pad:-pad] = 1.0
    canvas = cv2.erode(canvas, np.ones((2 * w_edge + 1, 2 * w_edge + 1), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    blur = 2 * w_edge + 1
    sigma = 0.3 * ((blur - 1) * 0.5 - 1) + 0.8
    return np.ascontiguousarray(cv2.GaussianBlur(canvas, (blur, blur), sigma)[pad:-pad, pad:-pad])


def paste_face(frame: np.ndarray, face: np.ndarray, aligned_affine: np.ndarray, region: np.ndarray) -> None:
    """Blend an aligned face into ``frame`` in place, weighted by ``region``.

    Args:
        frame: ``(H, W, 3)`` float32 0..1, modified in place.
        face: ``(res, res, 3)`` float32 0..1 aligned face.
        aligned_affine: ``(2, 3)`` source pixel -> aligned-face pixel.
        region: ``(res, res)`` float32 0..1 weight in aligned-face pixels.
    """
    h, w = frame.shape[:2]
    res = face.shape[0]
    weight = region * soft_footprint(res)
    window = _frame_window(aligned_affine, weight, h, w, margin=2)
    if window is None:
        return
    x0, y0, x1, y1 = window
    window_map = aligned_affine.copy()
    window_map[:, 2] += aligned_affine[:, :2] @ np.array([x0, y0], dtype=np.float64)
    size, flags = (x1 - x0, y1 - y0), cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
    alpha = cv2.warpAffine(weight, window_map, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    blended = cv2.warpAffine(face, window_map, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = cv2.merge((alpha, alpha, alpha))  # per channel: same-shape operands keep numpy's loops vectorised
    np.clip(alpha, 0.0, 1.0, out=alpha)
    np.clip(blended, 0.0, 1.0, out=blended)
    patch = frame[y0:y1, x0:x1]
    blended -= patch  # patch + alpha * (face - patch), in place
    blended *= alpha
    blended += patch
    np.copyto(patch, blended, where=alpha > 0)


def paste_back(
    frames: torch.Tensor,
    aligned: torch.Tensor,
    alignment: Alignment,
    roi: MouthROI | None = None,
    mask_smooth: float = 0.5,
    colour_match: str = "mean_std",
    region: str = "auto",
    inplace: bool = False,
    reference: torch.Tensor | None = None,
) -> torch.Tensor:
    """Put (possibly edited) aligned faces back into their source frames.

    Args:
        frames: ``[N, H, W, C]`` float 0..1 source frames.
        aligned: ``[M, res, res, 3]`` float 0..1 aligned faces (e.g. lip-synced).
        alignment: the alignment the faces were made with: ``N`` rows, or ``M`` rows
            picked from the ``N`` frames by :meth:`Alignment.select` (faces are then
            pasted into ``frames[alignment.source_index]``).
        roi: restored mouth crops to blend into the faces first, or None; only the
            crops a restorer changed are blended (see :meth:`MouthROI.pasted`).
        mask_smooth: 0..1, feather width of the ROI and changed-region masks.
        colour_match: ``"mean_std"``, ``"histogram"`` or ``"none"`` for the ROI.
        region: ``"auto"`` (only changed pixels) or ``"full_face"``.
        inplace: write into ``frames`` (float32 RGB input, no selection) instead
            of a copy; streaming callers use it to avoid copying whole frames.
        reference: the frames the alignment was made on, when ``frames`` are those
            frames enlarged (a background upscaler): ``"auto"`` then compares each
            face with its crop of ``reference`` to find what changed. ``frames`` may
            be enlarged without it (each face is then compared with its crop of the
            enlarged frame). Same rows as ``frames``.

    Returns:
        ``[M, H, W, 3]`` float32 frames (``M = N`` without a selection); frames
        without a face are unchanged. Faces are pasted at the size of ``frames``
        through the alignment scaled to it (:meth:`Alignment.resized`).
    """
    if region not in PASTE_REGIONS:
        raise BadInputError(f"paste region must be one of {PASTE_REGIONS}, got '{region}'.")
    if not 0.0 <= mask_smooth <= 1.0:
        raise BadInputError(f"mask_smooth must be in [0, 1], got {mask_smooth}.")
    rgb = _rows(as_rgb_frames(frames), alignment, "paste")
    gathered = alignment.source_index is not None
    check_same_length(aligned.shape[0], len(alignment), "paste (aligned faces)")
    compare = None
    if reference is not None:
        compare = _rows(as_rgb_frames(reference), alignment, "paste (reference frames)")
        if tuple(compare.shape[1:3]) != tuple(alignment.source_size):
            raise BadInputError(
                f"paste: reference frames are {tuple(compare.shape[1:3])} (HxW) but the alignment was made on "
                f"{tuple(alignment.source_size)}; give the frames the alignment came from."
            )
    target = _enlarged(alignment, tuple(rgb.shape[1:3]))
    res = alignment.resolution
    if tuple(aligned.shape[1:3]) != (res, res):
        raise BadInputError(f"paste: aligned faces are {tuple(aligned.shape[1:3])}, expected {res}x{res} for this alignment.")
    if roi is not None:
        check_same_length(len(roi), len(alignment), "paste (mouth ROI)")
    owned = gathered or (inplace and rgb is frames)
    out = rgb if owned and rgb.is_contiguous() else rgb.clone(memory_format=torch.contiguous_format)
    affines = target.aligned_affines()
    crops_of, crop_alignment = (out, target) if compare is None else (compare, alignment)
    pasted_roi = roi.pasted() if roi is not None else None
    for i in np.flatnonzero(alignment.has_face):
        face = np.ascontiguousarray(aligned[i].cpu().numpy(), dtype=np.float32)  # only read: no copy of float32 faces
        if roi is not None and pasted_roi[i]:
            face = paste_roi(face, roi.crops[i].cpu().numpy().astype(np.float32), roi.boxes[i], mask_smooth, colour_match)
        if region == "full_face":
            weight = np.ones((res, res), dtype=np.float32)
        else:
            crop = aligned_face(crops_of[i], crop_alignment.affines[i], alignment.crop_size, res, remember=False)
            original = np.divide(crop, np.float32(255.0), dtype=np.float32)
            weight = changed_region(face, original, mask_smooth)
        frame = out[i].numpy()
        paste_face(frame, face, affines[i], weight)
    return out


def _rows(rgb: torch.Tensor, alignment: Alignment, what: str) -> torch.Tensor:
    """The frames of the alignment's rows: ``rgb`` itself, or the frames a selection picked from it."""
    if alignment.source_index is None:
        check_same_length(rgb.shape[0], len(alignment), what)
        return rgb
    if rgb.shape[0] != alignment.source_frames:
        raise BadInputError(
            f"{what}: {rgb.shape[0]} frames but the alignment's {len(alignment)} output frames were picked from a "
            f"video of {alignment.source_frames}; connect the original video frames the alignment was made from."
        )
    return rgb[torch.from_numpy(alignment.source_index)]


def _enlarged(alignment: Alignment, size: tuple[int, int]) -> Alignment:
    """``alignment`` for frames of ``size`` (HxW): itself, or scaled when ``size`` is its frames' shape enlarged."""
    h, w = alignment.source_size
    if size == (h, w):
        return alignment
    if size[0] < h or size[1] < w or abs(size[0] / h - size[1] / w) * min(h, w) > 1.0:
        raise BadInputError(
            f"paste: frames are {size} (HxW) but the alignment was made on {(h, w)}; connect the frames the alignment "
            "came from (or those frames enlarged, e.g. by an upscaler)."
        )
    return alignment.resized(*size)
