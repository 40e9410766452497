"""Colour matching of a pasted patch to the image it is pasted into.

All images are ``(H, W, 3)`` float32 in ``0..1``; statistics are weighted by a
``(H, W)`` mask so only the region that will be blended counts.
"""
from __future__ import annotations

import numpy as np

COLOUR_MODES = ("mean_std", "histogram", "none")


def _weighted_stats(img: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    total = weight.sum()
    mean = (img * weight[..., None]).sum(axis=(0, 1)) / total
    var = (((img - mean) ** 2) * weight[..., None]).sum(axis=(0, 1)) / total
    return mean, np.sqrt(var)


def _weighted_quantiles(values: np.ndarray, weight: np.ndarray, qs: np.ndarray) -> np.ndarray:
    order = np.argsort(values)
    cdf = np.cumsum(weight[order])
    cdf /= cdf[-1]
    return np.interp(qs, cdf, values[order])


def match_colour(patch: np.ndarray, target: np.ndarray, weight: np.ndarray, mode: str = "mean_std") -> np.ndarray:
    """Return ``patch`` with the colour statistics of ``target`` under ``weight``.

    Args:
        patch: ``(H, W, 3)`` float32 0..1, the image to correct.
        target: ``(H, W, 3)`` float32 0..1, the image whose colours to take.
        weight: ``(H, W)`` float 0..1, where statistics are measured.
        mode: ``"mean_std"`` (per-channel mean and spread), ``"histogram"``
            (per-channel quantile mapping) or ``"none"``.
    """
    if mode not in COLOUR_MODES:
        raise ValueError(f"colour match must be one of {COLOUR_MODES}, got '{mode}'")
    if mode == "none" or weight.sum() < 1.0:
        return patch
    if mode == "mean_std":
        p_mean, p_std = _weighted_stats(patch, weight)
        t_mean, t_std = _weighted_stats(target, weight)
        gain = np.where(p_std > 1e-6, t_std / np.maximum(p_std, 1e-6), 1.0)
        return np.clip((patch - p_mean) * gain + t_mean, 0.0, 1.0).astype(np.float32)
    sel = weight > 0
    w = weight[sel]
    qs = np.linspace(0.0, 1.0, 257)
    out = np.empty_like(patch)
    for c in range(3):
        src_q = _weighted_quantiles(patch[..., c][sel], w, qs)
        dst_q = _weighted_quantiles(target[..., c][sel], w, qs)
        out[..., c] = np.interp(patch[..., c], src_q, dst_q)
    return out
