"""Which frames to restore, and the batched restore loop over a crop sequence."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..errors import BadInputError


def frames_needing_restore(
    source_size: np.ndarray, target: int, sr_ratio: float, valid: np.ndarray
) -> np.ndarray:
    """``(N,)`` bool: frames whose crop was upscaled enough to need restoration.

    Frame ``i`` is restored when ``valid[i]`` and ``source_size[i] * sr_ratio < target``,
    i.e. when the crop was enlarged from its ``source_size[i]`` source pixels to
    ``target`` pixels by a factor greater than ``sr_ratio``. ``sr_ratio = 1`` restores
    every upscaled crop; ``2`` only crops enlarged more than 2x; ``0`` every valid
    frame. Frames with a non-finite ``source_size`` are not restored.

    Args:
        source_size: ``(N,)`` ROI side in source-frame pixels.
        target: crop side the ROI was resampled to (e.g. 512).
        sr_ratio: upscale factor above which a frame is restored, ``>= 0``.
        valid: ``(N,)`` bool, False where the frame has no face.
    """
    source_size = np.asarray(source_size, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    if source_size.shape != valid.shape or source_size.ndim != 1:
        raise BadInputError(
            f"source_size {source_size.shape} and valid {valid.shape} must be matching (N,) arrays."
        )
    if not sr_ratio >= 0:
        raise BadInputError(f"sr_ratio must be >= 0, got {sr_ratio}.")
    with np.errstate(invalid="ignore"):
        upscaled = np.isfinite(source_size) & (source_size * sr_ratio < target)
    return valid & upscaled


def restore_selected(
    crops: torch.Tensor,
    mask: np.ndarray,
    restore_fn: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int = 4,
    strength: float = 1.0,
    before_batch: Callable[[], None] | None = None,
    after_batch: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Restore the masked crops in batches; the others are returned unchanged.

    Args:
        crops: ``[N, S, S, 3]`` float in ``[0, 1]`` (ComfyUI image layout).
        mask: ``(N,)`` bool, True for crops to restore (see :func:`frames_needing_restore`).
        restore_fn: ``[B, 3, S, S]`` in ``[0, 1]`` -> same shape in ``[0, 1]``,
            e.g. ``functools.partial(FaceRestorer.restore, fidelity=0.5)``.
        batch_size: crops per ``restore_fn`` call, ``>= 1``.
        strength: blend of restored over original, ``[0, 1]`` (1 = fully restored).
        before_batch: called before every batch (ComfyUI's interruption check).
        after_batch: called with the number of crops done in each batch (progress).

    Returns:
        ``[N, S, S, 3]`` float32 in ``[0, 1]`` on the device of ``crops``.
    """
    mask = np.asarray(mask, dtype=bool)
    if crops.ndim != 4 or crops.shape[-1] != 3 or mask.shape != (crops.shape[0],):
        raise BadInputError(
            f"Crops must be [N, S, S, 3] with an (N,) mask; got {tuple(crops.shape)} and {mask.shape}."
        )
    if batch_size < 1:
        raise BadInputError(f"batch_size must be >= 1, got {batch_size}.")
    if not 0.0 <= strength <= 1.0:
        raise BadInputError(f"strength must be in [0, 1], got {strength}.")
    out = crops.to(torch.float32).clone()
    chosen = np.flatnonzero(mask)
    for start in range(0, len(chosen), batch_size):
        if before_batch is not None:
            before_batch()
        index = torch.as_tensor(chosen[start:start + batch_size], device=crops.device)
        original = out[index]
        restored = restore_fn(original.permute(0, 3, 1, 2).contiguous()).permute(0, 2, 3, 1).to(out)
        out[index] = torch.lerp(original, restored, strength) if strength < 1.0 else restored
        if after_batch is not None:
            after_batch(len(index))
    return out
