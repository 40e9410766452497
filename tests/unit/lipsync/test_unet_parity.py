"""LatentSyncUNet against the reference UNet3DConditionModel.

Fixtures ``tests/data/unet_parity_tiny.npz`` and ``unet_parity_mid.npz`` (outputs only;
inputs and weights are regenerated from seeds): made with the reference code of bytedance/LatentSync a229c39
(``latentsync/models``: unet.py, unet_blocks.py, attention.py, motion_module.py, resnet.py,
utils.py, copied to a scratch dir with the one import of ``..utils.util.zero_rank_log``
replaced by a stub) under torch 2.14.1 / diffusers 0.42.1 on CPU, float32, one thread:

1. ``UNet3DConditionModel.from_config`` with configs/unet/stage2.yaml's ``model`` section but
   ``block_out_channels: [32, 64, 64, 64]`` (tiny; key list ``unet_reference_keys.json["tiny"]``)
   or ``[128, 256, 512, 512]`` (mid, 205 M parameters; key list ``["mid"]``);
2. ``load_state_dict(reference_weights(keys, weight_seed), strict=True)`` (tests/support/unet_fixtures.py);
   the weights were generated twice and found bit-identical;
3. ``sample, audio = parity_inputs(input_seed, frames, size)``;
   ``output = model(sample, torch.tensor(timestep), encoder_hidden_states=audio).sample``.

``tests/data/unet_parity_v15.npz`` (slow test, the real 1.5 model) was made the same way with
stage2.yaml's ``model`` section unchanged (block_out_channels [320, 640, 1280, 1280], 1.27 G
parameters, key list ``["full"]``), except that the model was built on the meta device and
filled with ``load_state_dict(weights, strict=True, assign=True)`` to hold one copy of the
weights, which were generated once; the fixture stores ``weight_sum`` (float64 sum of all
weights) so the test can check that it regenerated the same ones. Inputs: 16 frames of
32 x 32 latents (256 px faces), timestep 500.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from latentsync_core.errors import BadInputError
from latentsync_core.lipsync.unet import (
    JointFrameGroupNorm,
    LatentSyncUNet,
    LatentSyncUNetConfig,
    PerFrameGroupNorm,
    build_unet,
    map_reference_state_dict,
)
from unet_fixtures import DATA, parity_inputs, reference_key_shapes, reference_weights

pytestmark = pytest.mark.usefixtures("one_thread")
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def fixture():
    with np.load(f"{DATA}/unet_parity_tiny.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def tiny_unet(fixture) -> LatentSyncUNet:
    weights = reference_weights(reference_key_shapes("tiny"), int(fixture["weight_seed"]))
    unet = build_unet(LatentSyncUNetConfig.tiny(), device="meta")
    unet.load_state_dict(map_reference_state_dict(weights), strict=True, assign=True)
    return unet


def _inputs(fixture):
    sample, audio = parity_inputs(int(fixture["input_seed"]), int(fixture["frames"]), int(fixture["size"]))
    assert float(sample.double().sum() + audio.double().sum()) == pytest.approx(float(fixture["input_sum"]), abs=1e-6)
    return sample, torch.tensor(int(fixture["timestep"])), audio


def test_tiny_unet_matches_reference(tiny_unet, fixture):
    sample, t, audio = _inputs(fixture)
    with torch.no_grad():
        out = tiny_unet(sample, t, audio)
    assert out.shape == fixture["output"].shape == (1, 4, 16, 16, 16)
    diff = float(np.abs(out.numpy() - fixture["output"]).max())
    print(f"tiny UNet parity: max abs diff {diff:.3g}")
    assert diff <= TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize(
    "fixture_name, config, layout",
    [
        ("mid", LatentSyncUNetConfig(block_out_channels=(128, 256, 512, 512), name="mid"), "mid"),
        # the LatentSync 1.5 UNet, one step on 16 frames at 256 px (~8 GB, minutes on one core)
        ("v15", LatentSyncUNetConfig.v15(), "full"),
    ],
)
def test_larger_unets_match_reference(fixture_name, config, layout):
    with np.load(f"{DATA}/unet_parity_{fixture_name}.npz") as f:
        fixture = {k: f[k] for k in f.files}
    unet = build_unet(config, device="meta")
    weights = reference_weights(reference_key_shapes(layout), int(fixture["weight_seed"]))
    if "weight_sum" in fixture:
        weight_sum = float(sum(w.double().sum() for w in weights.values()))
        assert weight_sum == pytest.approx(float(fixture["weight_sum"]), rel=0, abs=1e-6)
    unet.load_state_dict(map_reference_state_dict(weights), strict=True, assign=True)
    del weights
    sample, t, audio = _inputs(fixture)
    with torch.no_grad():
        out = unet(sample, t, audio)
    assert out.shape == fixture["output"].shape
    diff = float(np.abs(out.numpy() - fixture["output"]).max())
    print(f"{config.name} UNet parity: max abs diff {diff:.3g}")
    assert diff <= TOLERANCE


def test_reference_weights_are_reproducible():
    shapes = reference_key_shapes("tiny")
    a, b = reference_weights(shapes, 7), reference_weights(shapes, 7)
    assert all(torch.equal(a[k], b[k]) for k in shapes)
    assert not torch.equal(a["conv_in.weight"], reference_weights(shapes, 8)["conv_in.weight"])


def test_samples_in_a_batch_are_independent(tiny_unet, fixture):
    sample, t, audio = _inputs(fixture)
    frames = sample.shape[2]
    other = torch.flip(sample, dims=[2]) * 0.5
    with torch.no_grad():
        batch = tiny_unet(torch.cat([sample, other]), t, torch.cat([audio, audio.flip(0)]))
        first = tiny_unet(sample, t, audio)
        second = tiny_unet(other, t, audio.flip(0))
    assert batch.shape == (2, 4, frames, 16, 16)
    torch.testing.assert_close(batch[:1], first, atol=1e-5, rtol=0)
    torch.testing.assert_close(batch[1:], second, atol=1e-5, rtol=0)


def test_rebuilt_and_copied_models_keep_the_reference_norms(tiny_unet, fixture):
    rebuilt = LatentSyncUNet.from_config(tiny_unet.config)
    kinds = {type(m) for m in rebuilt.modules()}
    assert {JointFrameGroupNorm, PerFrameGroupNorm} <= kinds
    assert type(rebuilt.conv_norm_out) is JointFrameGroupNorm

    clone = copy.deepcopy(tiny_unet)
    sample, t, audio = _inputs(fixture)
    with torch.no_grad():
        out = clone(sample[:, :, :8], t, audio[:8])
        assert torch.equal(out, tiny_unet(sample[:, :, :8], t, audio[:8]))
    diff = float(np.abs(clone(sample, t, audio).detach().numpy() - fixture["output"]).max())
    assert diff <= TOLERANCE


def test_bfloat16_forward_follows_float32(tiny_unet, fixture):
    sample, t, audio = _inputs(fixture)
    low = copy.deepcopy(tiny_unet).to(torch.bfloat16)
    with torch.no_grad():
        out = low(sample[:, :, :8].bfloat16(), t, audio[:8].bfloat16())
        ref = tiny_unet(sample[:, :, :8], t, audio[:8])
    assert out.dtype == torch.bfloat16
    err = (out.float() - ref).abs().max() / ref.abs().max()
    assert err < 0.05


def test_mismatched_audio_features_are_refused(tiny_unet, fixture):
    sample, t, audio = _inputs(fixture)
    with pytest.raises(BadInputError, match="one audio window per video frame"):
        tiny_unet(sample, t, audio[:8])


def test_too_many_frames_are_refused(tiny_unet):
    sample = torch.zeros(1, 13, 25, 8, 8)
    with pytest.raises(BadInputError, match="at most 24 frames"):
        tiny_unet(sample, 10, torch.zeros(25, 50, 384))
