"""ROI Paste & Blend with upscaled frames inside ComfyUI (opt-in: set COMFYUI_PATH to a ComfyUI checkout).

The wiring the README documents for a background upscale: Face Align on the original frames,
the frames enlarged (here 2x nearest neighbour, what Upscale Image (using Model) would give
with such a model) into ``images``, the original frames into ``source_images``.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from comfy_nodes import node_module, requires_comfyui
from clips import astronaut

pytestmark = requires_comfyui


def test_faces_pasted_at_the_upscaled_size_only_where_they_changed():
    face = node_module("face")
    frames = torch.from_numpy(np.stack([astronaut()] * 2)).float() / 255.0
    aligned, alignment, _ = face.FaceAlignAffine.execute(
        frames, resolution="256", backend="mediapipe", face_selection="largest", face_index=0, smoothing=0.2, max_gap=4,
        download_models=False, landmark_cache=False,
    ).result
    edited = aligned.clone()
    edited[:, 150:200, 90:170] = torch.tensor([0.9, 0.1, 0.1])
    big = frames.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)
    options = dict(mask_smooth=0.5, color_match="mean_std", region="auto")
    small = face.ROIPasteBlend.execute(frames, edited, alignment, **options).result[0]
    guided = face.ROIPasteBlend.execute(big, edited, alignment, **options, source_images=frames).result[0]
    alone = face.ROIPasteBlend.execute(big, edited, alignment, **options).result[0]
    assert guided.shape == alone.shape == big.shape
    changed_small = ((small - frames).abs().amax(-1) > 0.2).repeat_interleave(2, 1).repeat_interleave(2, 2)
    changed_guided = (guided - big).abs().amax(-1) > 0.2
    assert changed_guided.sum() > 0.8 * changed_small.sum()
    assert ((alone - big).abs().amax(-1) > 0.02).sum() >= ((guided - big).abs().amax(-1) > 0.02).sum()
    # guided: no visible change outside the region that changes at the original size (grown by a 2x pixel border)
    grown = torch.nn.functional.max_pool2d(changed_small.float()[:, None], 5, stride=1, padding=2)[:, 0] > 0
    assert not (changed_guided & ~grown).any()
