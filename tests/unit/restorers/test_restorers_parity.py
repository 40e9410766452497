"""Parity of restorers' GFPGAN / CodeFormer calls with the official architectures.

How ``tests/data/restorers_{gfpgan,codeformer}.npz`` were made (scratch script, not in
the repo; torch 2.14.1 CPU, 1 thread): the official architecture files were imported
from TencentARC/GFPGAN (``gfpgan/archs/gfpganv1_clean_arch.py`` + ``stylegan2_clean_arch.py``)
and sczhou/CodeFormer (``basicsr/archs/codeformer_arch.py`` + ``vqgan_arch.py``) with
``basicsr``'s registry/logger/init helpers stubbed (weights are all overwritten).
Configs: GFPGANer's for v1.3/1.4 (out_size 512, channel_multiplier 2, different_w,
sft_half, input_is_latent); inference_codeformer.py's (dim 512, codebook 1024, 8 heads,
9 layers, connect_list 32-256). Weights: ``seeded_state_dict`` over each network's own
keys/shapes (seeds 1234 / 4321); their sha256 ``digest`` is stored, and was identical
across runs. Input: ``face_image() * 2 - 1`` (the official mean/std 0.5 normalisation).
Calls: ``net(x, return_rgb=False, randomize_noise=False)[0]`` and
``net(x, w=0.7, adain=True)``; output mapped as the official ``tensor2img(min_max=(-1, 1))``
does before uint8 (clamp to [-1, 1], then (x + 1) / 2) and stored as
``summarise_output`` (float32 strided pixels, 8x8 block means, min/max/mean/std), plus
the raw output's stats, CodeFormer's chosen codebook indices (topk of softmax over the
logits, as the architecture picks them) and the smallest top-2 logit gap (7.5e-4, far
above float noise, so the codes are stable).

Here the same weights are written as official-format files (``{"params_ema": ...}``
``.pth``, or ``.safetensors``), loaded through :func:`restorers.load_face_restorer`
(spandrel's architectures) and compared within 1e-4, CodeFormer's codes exactly. Each
full-size forward takes seconds on CPU, so the default suite runs one correct forward
per model plus the gray-face check; the extra checks are marked slow.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from latentsync_core.files.spandrel_models import read_spandrel_state_dict
from latentsync_core.restorers import CODEFORMER, GFPGAN, load_face_restorer
from latentsync_core.errors import BadInputError
from restorer_weights import (
    CODEFORMER_SEED,
    GFPGAN_SEED,
    face_image,
    load_fixture,
    max_fixture_diff,
    seeded_state_dict,
    state_dict_digest,
)

TOL = 1e-4


def _spandrel_shapes(arch: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape of spandrel's network as its detector configures it for the official files."""
    if arch == GFPGAN:
        from spandrel.architectures.GFPGAN import GFPGAN as Net
    else:
        from spandrel_extra_arches.architectures.CodeFormer import CodeFormer as Net
    with torch.device("meta"):
        net = Net()
    return {key: tuple(value.shape) for key, value in net.state_dict().items()}


def _seeded_weights(arch: str, seed: int, expected_digest: str) -> dict[str, torch.Tensor]:
    state_dict = seeded_state_dict(_spandrel_shapes(arch), seed)
    # Same keys, shapes and values as the official network the fixture came from.
    assert state_dict_digest(state_dict) == expected_digest
    return state_dict


@pytest.fixture(scope="module")
def gfpgan_file(tmp_path_factory):
    expected = load_fixture("gfpgan")
    state_dict = _seeded_weights(GFPGAN, GFPGAN_SEED, str(expected["digest"]))
    path = tmp_path_factory.mktemp("gfpgan") / "GFPGANv1.4.pth"
    torch.save({"params_ema": state_dict}, path)
    return path, expected


@pytest.fixture(scope="module")
def gfpgan(gfpgan_file):
    path, expected = gfpgan_file
    return load_face_restorer(str(path)), expected


@pytest.fixture(scope="module")
def codeformer(tmp_path_factory):
    pytest.importorskip("spandrel_extra_arches")
    expected = load_fixture("codeformer")
    state_dict = _seeded_weights(CODEFORMER, CODEFORMER_SEED, str(expected["digest"]))
    path = tmp_path_factory.mktemp("codeformer") / "codeformer.safetensors"
    save_file(state_dict, str(path))
    del state_dict
    return load_face_restorer(str(path)), expected


def test_gfpgan_matches_official(gfpgan):
    restorer, expected = gfpgan
    assert restorer.arch == GFPGAN and not restorer.has_fidelity
    assert restorer.dtype == torch.float32 and restorer.size == 512
    out = restorer.restore(face_image())
    assert out.shape == (1, 3, 512, 512) and out.dtype == torch.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert max_fixture_diff(out, expected) <= TOL


def test_gfpgan_unnormalised_input_fails_parity(gfpgan):
    """The gray-face bug: a [0, 1] input (spandrel's generic call) must not pass the parity check."""
    restorer, expected = gfpgan
    face = face_image()
    with torch.no_grad():
        raw, _ = restorer.forward_network(face)
    naive = raw.clamp(0.0, 1.0)  # what spandrel's descriptor call returns
    assert max_fixture_diff(naive, expected) > 100 * TOL


def test_codeformer_matches_official_codes_and_image(codeformer, monkeypatch):
    restorer, expected = codeformer
    assert restorer.arch == CODEFORMER and restorer.has_fidelity
    codes = []
    forward = restorer.forward_network

    def recording_forward(x, fidelity=0.5):
        image, chosen = forward(x, fidelity)
        codes.append(chosen)
        return image, chosen

    monkeypatch.setattr(restorer, "forward_network", recording_forward)
    out = restorer.restore(face_image(), fidelity=float(expected["fidelity"]))
    assert len(codes) == 1
    np.testing.assert_array_equal(codes[0][0].numpy(), expected["codes"].astype(np.int64))
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert max_fixture_diff(out, expected) <= TOL


def test_float16_is_refused(gfpgan):
    restorer, _ = gfpgan
    with pytest.raises(BadInputError, match="float16"):
        restorer.to(dtype=torch.float16)
    assert restorer.dtype == torch.float32


def test_pth_and_safetensors_hold_the_same_weights(gfpgan_file, tmp_path):
    path, _ = gfpgan_file
    from_pth = read_spandrel_state_dict(str(path))
    safetensors_path = tmp_path / "GFPGANv1.4.safetensors"
    save_file(from_pth, str(safetensors_path))
    from_safetensors = read_spandrel_state_dict(str(safetensors_path))
    assert from_pth.keys() == from_safetensors.keys()
    assert all(torch.equal(from_pth[key], from_safetensors[key]) for key in from_pth)


@pytest.mark.slow
def test_spandrel_descriptor_call_gives_wrong_faces(gfpgan_file, gfpgan):
    """spandrel's own descriptor call (as a generic upscale node uses it) is far from the official output."""
    from spandrel import ModelLoader

    path, expected = gfpgan_file
    descriptor = ModelLoader().load_from_file(str(path))
    restorer, _ = gfpgan
    face = face_image()
    with torch.no_grad():
        naive = descriptor(face)
    correct = restorer.restore(face)
    assert max_fixture_diff(naive, expected) > 100 * TOL
    assert float((naive - correct).abs().mean()) > 0.05


@pytest.mark.slow
def test_gfpgan_is_deterministic_batched_and_resizes(gfpgan):
    restorer, expected = gfpgan
    face = face_image()
    first = restorer.restore(face)
    assert torch.equal(restorer.restore(face), first)  # stored noise maps, not fresh noise
    batch = restorer.restore(torch.cat([face, face.flip(-1)]), batch_size=2)
    assert max_fixture_diff(batch[:1], expected) <= TOL
    small = restorer.restore(face_image(256))
    assert small.shape == (1, 3, 256, 256) and 0.0 <= small.min() and small.max() <= 1.0


# bfloat16 keeps ~3 significant digits. GFPGAN stays within ~0.01 of the float32
# reference (measured: mean 0.001, max 0.009). With these random weights CodeFormer's
# top-2 logits can be closer than bfloat16's resolution, so a few codes flip (measured:
# 3 of 256) and change their 32x32 patches; the bounds allow that and no more.
BF16_BOUNDS = {"gfpgan": (0.005, 0.03, 1.0), "codeformer": (0.05, 0.6, 0.95)}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gfpgan", "codeformer"])
def test_bfloat16_close_to_float32_reference(name, tmp_path):
    arch, seed = (GFPGAN, GFPGAN_SEED) if name == "gfpgan" else (CODEFORMER, CODEFORMER_SEED)
    if arch == CODEFORMER:
        pytest.importorskip("spandrel_extra_arches")
    expected = load_fixture(name)
    path = tmp_path / f"{name}.safetensors"
    save_file(_seeded_weights(arch, seed, str(expected["digest"])), str(path))
    restorer = load_face_restorer(str(path), dtype=torch.bfloat16)
    assert restorer.dtype == torch.bfloat16
    fidelity = float(expected["fidelity"]) if "fidelity" in expected else 0.5
    with torch.no_grad():
        x = face_image() * 2 - 1
        image, codes = restorer.forward_network(x.to(torch.bfloat16), fidelity)
    out = (image.float().clamp(-1, 1) + 1) / 2
    mean_bound, max_bound, code_agreement = BF16_BOUNDS[name]
    pooled_error = np.abs(torch.nn.functional.avg_pool2d(out, 8)[0].numpy() - expected["pooled"])
    assert pooled_error.mean() < mean_bound and pooled_error.max() < max_bound
    if codes is not None:
        assert (codes[0].numpy() == expected["codes"]).mean() >= code_agreement
