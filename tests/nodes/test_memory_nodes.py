"""The dtype policy and memory handling inside ComfyUI (opt-in: set COMFYUI_PATH to a ComfyUI checkout).

ComfyUI's flags are patched on its ``args``; a partial (``--novram``) load is provoked with ComfyUI's
own loader on the ``meta`` device (no GPU here): ``vram_state`` NO_VRAM, free memory reported large.
"""
from __future__ import annotations

import logging

import pytest
import torch

from comfy_nodes import core, import_comfy, node_module, requires_comfyui

pytestmark = requires_comfyui


@pytest.fixture(scope="module")
def comfy():
    return import_comfy()


@pytest.mark.parametrize("flag", ["fp8_e4m3fn_unet", "fp8_e5m2_unet"])
def test_fp8_flag_selects_a_supported_dtype_said_once(comfy, monkeypatch, caplog, flag):
    from comfy.cli_args import args

    host = node_module("host")
    model_dtype = core("run.host").model_dtype
    monkeypatch.setattr(args, flag, True)
    monkeypatch.setattr(host, "_said", set())
    assert comfy.model_management.unet_dtype().itemsize == 1  # ComfyUI itself asks for fp8
    with caplog.at_level(logging.WARNING):
        dtypes = {model_dtype(host.ComfyHost(), "unet", "auto", torch.device("cpu")) for _ in range(3)}
    assert dtypes == {torch.bfloat16}  # the CPU runs bf16 natively; fp16 on a pre-Ampere GPU
    notes = [r.getMessage() for r in caplog.records if "instead of float8" in r.getMessage()]
    assert len(notes) == 1 and "cannot compute in 8-bit floats" in notes[0]


def test_whisper_loaders_share_one_policy(comfy, monkeypatch):
    host = node_module("host")
    mm = comfy.model_management
    monkeypatch.setattr(mm, "should_use_fp16", lambda *a, **k: True)
    assert core("run.host").model_dtype(host.ComfyHost(), "whisper") == torch.float16
    audio, loader = node_module("audio"), node_module("model_loader")
    assert loader.whisper_patcher is audio.whisper_patcher is host.whisper_patcher
    assert loader.model_dtype is audio.model_dtype


def test_faces_of_the_wrong_size_name_the_face_align_setting(comfy):
    from comfy.model_patcher import ModelPatcher
    from latentsync_core.lipsync.unet import LatentSyncUNetConfig

    sampler, host = node_module("sampler"), node_module("host")
    patcher = ModelPatcher(host.PatcherHost(torch.nn.Linear(1, 1)), load_device="cpu", offload_device="cpu")
    patcher.set_attachments(host.VERSION_ATTACHMENT, "1.6")
    patcher.set_attachments(host.CONFIG_ATTACHMENT, LatentSyncUNetConfig.v16())
    faces = torch.zeros(2, 256, 256, 3)
    with pytest.raises(core("errors").BadInputError, match="1.6 model works on 512 px faces but the faces are 256 px; "
                       "set resolution to 512 on the LatentSync Face Align node"):
        sampler.check_face_size(patcher, faces)
    sampler.check_face_size(patcher, torch.zeros(2, 512, 512, 3))


def _gfpgan():
    from spandrel.architectures.GFPGAN import GFPGAN

    return GFPGAN().eval()


def _codeformer():
    from spandrel_extra_arches.architectures.CodeFormer import CodeFormer

    return CodeFormer().eval()


def _unet():
    from latentsync_core.lipsync.unet import LatentSyncUNetConfig, build_unet

    return node_module("host").PatcherHost(build_unet(LatentSyncUNetConfig.tiny()))


@pytest.fixture
def novram(comfy, monkeypatch):
    """ComfyUI in --novram mode with a roomy fake device: every load it makes is partial."""
    mm = comfy.model_management
    monkeypatch.setattr(mm, "vram_state", mm.VRAMState.NO_VRAM)
    monkeypatch.setattr(mm, "get_free_memory", lambda dev=None, torch_free_too=False: (1 << 40, 1 << 40) if torch_free_too else 1 << 40)
    yield mm
    mm.unload_all_models()


@pytest.mark.parametrize("build", [_gfpgan, _codeformer, _unet])
def test_models_load_whole_where_comfyui_would_load_them_partially(novram, caplog, build):
    from comfy.model_patcher import ModelPatcher

    patcher_module = node_module("host")
    plain = ModelPatcher(build(), load_device=torch.device("meta"), offload_device=torch.device("cpu"))
    novram.load_models_gpu([plain], force_full_load=True)
    assert patcher_module._elsewhere(plain) > 0  # what ComfyUI alone leaves on the CPU
    novram.unload_all_models()

    patcher = ModelPatcher(build(), load_device=torch.device("meta"), offload_device=torch.device("cpu"))
    with caplog.at_level(logging.WARNING):
        patcher_module.load_fully([patcher], memory_required=1 << 20)
    assert patcher_module._elsewhere(patcher) == 0
    assert all(t.device.type == "meta" for t in [*patcher.model.parameters(), *patcher.model.buffers()])
    assert any("cannot run partially loaded" in r.getMessage() for r in caplog.records)
