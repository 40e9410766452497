"""restorers.loading: safe reading, unwrapping, and refusal of anything but GFPGAN/CodeFormer."""
from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import save_file

from latentsync_core.errors import BadInputError, MissingDependencyError
from latentsync_core.files.spandrel_models import read_spandrel_state_dict
from latentsync_core.restorers import load_face_restorer
from latentsync_core.restorers import loading


def _tiny_esrgan_state_dict() -> dict[str, torch.Tensor]:
    from spandrel.architectures.ESRGAN import ESRGAN

    return ESRGAN(num_filters=8, num_blocks=1, scale=2).state_dict()


@pytest.mark.parametrize("wrapper", ["params_ema", "params", "state_dict", None])
def test_read_spandrel_state_dict_unwraps_official_containers(tmp_path, wrapper):
    weights = {"a.weight": torch.arange(6.0).reshape(2, 3), "a.bias": torch.ones(2)}
    path = tmp_path / "m.pth"
    torch.save({wrapper: weights} if wrapper else weights, path)
    got = read_spandrel_state_dict(str(path))
    assert got.keys() == weights.keys() and all(torch.equal(got[k], weights[k]) for k in weights)


@pytest.mark.parametrize("ext", [".pth", ".safetensors"])
def test_esrgan_is_refused_by_name(tmp_path, ext):
    state_dict = _tiny_esrgan_state_dict()
    path = tmp_path / f"4x_upscaler{ext}"
    if ext == ".pth":
        torch.save({"params_ema": state_dict}, path)
    else:
        save_file(state_dict, str(path))
    with pytest.raises(BadInputError, match=r"'4x_upscaler.* holds a ESRGAN model.*GFPGAN.*CodeFormer"):
        load_face_restorer(str(path))


def test_unknown_weights_are_refused(tmp_path):
    path = tmp_path / "random.pth"
    torch.save({"encoder.0.weight": torch.randn(4, 3, 3, 3), "head.bias": torch.randn(4)}, path)
    with pytest.raises(BadInputError, match="'random.pth' is not a recognised model"):
        load_face_restorer(str(path))


def test_not_a_state_dict_is_refused(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(BadInputError, match="does not hold a model state dict"):
        read_spandrel_state_dict(str(path))


class _RunsCode:
    """Unpickling this would call os.makedirs(marker): a stand-in for a malicious checkpoint."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def test_pickle_with_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code_ran"
    path = tmp_path / "evil.pth"
    torch.save({"params_ema": {"w": torch.zeros(1)}, "payload": _RunsCode(str(marker))}, path)
    with pytest.raises(BadInputError, match="Refused to load .*evil.pth"):
        load_face_restorer(str(path))
    assert not marker.exists()


def test_codeformer_without_extra_arches_names_the_package(monkeypatch):
    from spandrel import ArchRegistry

    monkeypatch.setattr(loading, "registry", ArchRegistry)  # no architecture knows these keys
    keys = ("position_emb", "quantize.embedding.weight", "idx_pred_layer.1.weight", "encoder.blocks.0.weight")
    with pytest.raises(MissingDependencyError, match="spandrel-extra-arches"):
        loading.restorer_from_state_dict({key: torch.zeros(2, 2) for key in keys})



def test_default_dtype_is_float32_on_cpu():
    assert loading.default_dtype("cpu") == torch.float32
