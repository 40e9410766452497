"""Background upscaler (latentsync_core.upscalers): loading, tiling, refusals.

Files are Real-ESRGAN ``RRDBNet`` state dicts in the official layout with small random
weights, or weights that make the x4 network an exact nearest-neighbour upscaler
(tests/support/upscaler_fixtures.py).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from latentsync_core.errors import BadInputError
from latentsync_core.upscalers import load_upscaler, upscaler_from_state_dict
from upscaler_fixtures import nearest_state_dict, realesrgan_state_dict


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def frames(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("scale, suffix", [(4, ".pth"), (2, ".safetensors")])
def test_official_layout_loads_and_tiles_join_without_seams(tmp_path, scale, suffix):
    path = tmp_path / f"RealESRGAN_x{scale}plus{suffix}"
    state = realesrgan_state_dict(scale, seed=scale, features=8)
    if suffix == ".pth":
        torch.save(state, path)
    else:
        from safetensors.torch import save_file

        save_file(state["params_ema"], str(path))
    upscaler = load_upscaler(str(path), tile=32)
    assert upscaler.scale == scale and upscaler.descriptor.architecture.id == "ESRGAN"
    clip = frames(1, 50, 72)
    tiled = upscaler(clip)
    assert tiled.shape == (1, 50 * scale, 72 * scale, 3) and tiled.dtype == np.uint8
    assert tiled.std() > 5  # random weights: a busy image, not a constant
    upscaler.tile = 0
    whole = upscaler(clip)
    diff = np.abs(tiled.astype(int) - whole.astype(int))
    assert diff.max() <= 1 and diff.mean() < 1e-3  # only float summation order differs


def test_nearest_weights_upscale_exactly_pixel_centres_in_blocks():
    upscaler = upscaler_from_state_dict(nearest_state_dict(features=4)["params_ema"], tile=32)
    clip = frames(2, 40, 56, seed=1)
    assert np.array_equal(upscaler(clip), clip.repeat(4, axis=1).repeat(4, axis=2))


def test_files_that_are_not_upscalers_are_refused(tmp_path):
    with pytest.raises(BadInputError, match="not a recognised upscaler"):
        upscaler_from_state_dict({"conv.weight": torch.zeros(3, 3, 3, 3)}, name="mystery.pth")
    code = tmp_path / "code.pth"
    torch.save({"params_ema": realesrgan_state_dict(4)["params_ema"], "run": print}, code)
    with pytest.raises(BadInputError, match="not a plain weights file"):
        load_upscaler(str(code))
