"""Loading ``latentsync_unet.pt``: official layout, refused layouts, damaged/unsafe files, versions.

Checkpoints are written here in the official file layout (``{"state_dict": ...}`` with the
reference key names from tests/data/unet_reference_keys.json, see tests/support/unet_fixtures.py)
with seeded random weights for the tiny architecture.
"""
from __future__ import annotations

import operator
import os

import numpy as np
import pytest
import torch

from latentsync_core.lipsync import checkpoints
from latentsync_core.lipsync.checkpoints import (
    check_layout,
    checkpoint_url,
    detect_layout,
    identify_version,
    load_unet,
    read_unet_state_dict,
    version_from_path,
)
from latentsync_core.errors import BadInputError, MissingModelError
from latentsync_core.files.model_files import sha256_file
from latentsync_core.lipsync.unet import LatentSyncUNetConfig, build_unet, map_reference_state_dict
from unet_fixtures import DATA, parity_inputs, reference_key_shapes, reference_weights, sinusoid_table

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = LatentSyncUNetConfig.tiny()


def _write(path, layout: str = "tiny", seed: int = 1234, edit=None) -> str:
    state = reference_weights(reference_key_shapes(layout), seed)
    if edit:
        edit(state)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save({"state_dict": state, "global_step": 0}, path)
    return str(path)


def test_official_layout_loads_strictly_and_matches_reference(tmp_path):
    path = _write(tmp_path / "LatentSync-1.5" / "latentsync_unet.pt")
    loaded = load_unet(path, config=TINY)
    assert loaded.version is None and loaded.config == TINY
    expected = map_reference_state_dict(reference_weights(reference_key_shapes("tiny"), 1234))
    state = loaded.unet.state_dict()
    assert set(state) == set(expected)
    assert all(torch.equal(state[k], expected[k]) for k in expected)

    with np.load(f"{DATA}/unet_parity_tiny.npz") as fx:
        sample, audio = parity_inputs(int(fx["input_seed"]), int(fx["frames"]), int(fx["size"]))
        with torch.no_grad():
            out = loaded.unet(sample, torch.tensor(int(fx["timestep"])), audio)
        assert float(np.abs(out.numpy() - fx["output"]).max()) <= 1e-4


def test_version_from_folder_is_used_and_checked(tmp_path):
    path = _write(tmp_path / "models" / "latentsync" / "LatentSync-1.6" / "latentsync_unet.pt")
    assert load_unet(path, "1.6", config=TINY).version == "1.6"
    with pytest.raises(BadInputError, match="Conflicting LatentSync versions.*chosen version says 1.5"):
        load_unet(path, "1.5", config=TINY)


def test_loads_in_half_precision(tmp_path):
    path = _write(tmp_path / "ckpt" / "latentsync_unet.pt")
    unet = load_unet(path, config=TINY, dtype=torch.bfloat16).unet
    assert {p.dtype for p in unet.parameters()} == {torch.bfloat16}


def test_legacy_torch_save_format_loads(tmp_path):
    path = tmp_path / "latentsync_unet.pt"
    state = reference_weights(reference_key_shapes("tiny"), 3)
    torch.save({"state_dict": state}, path, _use_new_zipfile_serialization=False)
    loaded = read_unet_state_dict(str(path))
    assert set(loaded) == set(state) and torch.equal(loaded["conv_in.weight"], state["conv_in.weight"])


def test_no_temporal_layout_offered_as_15_is_refused(tmp_path):
    path = _write(tmp_path / "LatentSync-1.5" / "latentsync_unet.pt", layout="tiny_no_motion")
    with pytest.raises(BadInputError, match=r"no temporal layers \(the LatentSync 1.0 / stage-1 layout\)"):
        load_unet(path, "1.5", config=TINY)


def test_efficient_layout_is_refused(tmp_path):
    path = _write(tmp_path / "x" / "latentsync_unet.pt", layout="tiny_efficient")
    with pytest.raises(BadInputError, match="only in the up blocks"):
        load_unet(path, config=TINY)


def test_other_input_channels_are_refused(tmp_path):
    def nine_channels(state):
        state["conv_in.weight"] = state["conv_in.weight"][:, :9].clone()

    path = _write(tmp_path / "x" / "latentsync_unet.pt", edit=nine_channels)
    with pytest.raises(BadInputError, match="it has 9 input channels; tiny needs 13 input channels"):
        load_unet(path, config=TINY)


def test_wrong_block_width_is_refused(tmp_path):
    path = _write(tmp_path / "x" / "latentsync_unet.pt")
    with pytest.raises(BadInputError, match=r"it has blocks \[32, 64, 64, 64\]; LatentSync 1.5 needs blocks \[320, 640, 1280, 1280\]"):
        load_unet(path, "1.5")


def test_missing_weight_is_refused(tmp_path):
    def drop_one(state):
        del state["up_blocks.1.attentions.0.transformer_blocks.0.attn2.to_v.weight"]

    path = _write(tmp_path / "x" / "latentsync_unet.pt", edit=drop_one)
    with pytest.raises(BadInputError, match="1 weights missing.*attn2.to_v.weight"):
        load_unet(path, config=TINY)


def test_truncated_file_is_refused(tmp_path):
    path = _write(tmp_path / "x" / "latentsync_unet.pt")
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with pytest.raises(BadInputError, match="damaged or incomplete.*Download it again from https://huggingface.co"):
        read_unet_state_dict(path)


class _Code:
    """Pickles as a call to a function: refused by ``weights_only`` loading."""

    def __reduce__(self):
        return operator.add, (1, 2)


def test_pickle_with_code_is_refused(tmp_path):
    path = tmp_path / "latentsync_unet.pt"
    torch.save({"state_dict": {"conv_in.weight": torch.zeros(1)}, "extra": _Code()}, path)
    with pytest.raises(BadInputError, match="contains Python objects besides tensors"):
        read_unet_state_dict(str(path))


def test_missing_file_names_file_folder_and_url(tmp_path):
    with pytest.raises(MissingModelError) as err:
        load_unet(str(tmp_path / "latentsync_unet.pt"), "1.6")
    assert err.value.file_name == "latentsync_unet.pt"
    assert err.value.folder == str(tmp_path)
    assert err.value.url == "https://huggingface.co/ByteDance/LatentSync-1.6/resolve/main/latentsync_unet.pt"
    with pytest.raises(MissingModelError, match="LatentSync-1.6/resolve"):
        load_unet(str(tmp_path / "LatentSync-1.6" / "latentsync_unet.pt"))


def test_non_unet_file_is_refused(tmp_path):
    path = tmp_path / "latentsync_unet.pt"
    torch.save({"state_dict": {"encoder.weight": torch.zeros(2)}}, path)
    with pytest.raises(BadInputError, match="not a LatentSync UNet checkpoint"):
        detect_layout(read_unet_state_dict(str(path)))


def test_full_size_reference_keys_map_without_mismatch():
    shapes = reference_key_shapes("full")
    state = {
        k: sinusoid_table(s[1], s[2]) if k.endswith(".pe") else torch.empty(s, device="meta")
        for k, s in shapes.items()
    }
    layout = detect_layout(state)
    assert layout.temporal == "full" and layout.in_channels == 13 and layout.cross_attention_dim == 384
    check_layout(layout, LatentSyncUNetConfig.v15())
    check_layout(layout, LatentSyncUNetConfig.v16())
    mapped = map_reference_state_dict(state)
    ours = build_unet(LatentSyncUNetConfig.v15(), device="meta").state_dict()
    assert sorted(set(ours) - set(mapped)) == []
    assert sorted(set(mapped) - set(ours)) == []
    assert [k for k in ours if tuple(ours[k].shape) != tuple(mapped[k].shape)] == []
    assert sum(v.numel() for k, v in ours.items() if not k.endswith(".pe")) == pytest.approx(1.267e9, rel=1e-3)


def test_version_from_path():
    assert version_from_path("models/latentsync/LatentSync-1.5/latentsync_unet.pt") == "1.5"
    assert version_from_path("/m/latentsync_1.6/latentsync_unet.pt") == "1.6"
    assert version_from_path("/m/ByteDance--LatentSync-1.6/unet/latentsync_unet.pt") == "1.6"
    assert version_from_path("/m/latentsync/latentsync_unet.pt") is None
    assert version_from_path("/m/LatentSync-1.5/LatentSync-1.6/latentsync_unet.pt") is None
    assert version_from_path("/m/LatentSync-1.55/latentsync_unet.pt") is None


def test_version_must_be_known(tmp_path):
    path = _write(tmp_path / "x" / "latentsync_unet.pt")
    with pytest.raises(BadInputError, match="Cannot tell whether .* 1.5 or 1.6"):
        identify_version(path)
    with pytest.raises(BadInputError, match="Unknown LatentSync version '2.0'"):
        identify_version(path, "2.0")
    assert identify_version(path, "1.6") == "1.6"


def test_sha256_table_identifies_and_overrules_nothing_silently(tmp_path, monkeypatch):
    path = _write(tmp_path / "x" / "latentsync_unet.pt")
    monkeypatch.setitem(checkpoints.KNOWN_CHECKPOINTS, sha256_file(path), "1.6")
    assert identify_version(path) == "1.6"
    with pytest.raises(BadInputError, match="its sha256 says 1.6.*chosen version says 1.5"):
        identify_version(path, "1.5")


def test_urls():
    assert checkpoint_url("1.5") == "https://huggingface.co/ByteDance/LatentSync-1.5/resolve/main/latentsync_unet.pt"
