"""The host seam (latentsync_core/run/host.py, nodes/host.py): both front-ends decide the same way.

The command line's decisions are taken with its own host (``cli._host`` on the parsed arguments); a CUDA
card is simulated on this CPU-only machine by the compute capability torch reports for it (a T4 is 7.5,
an RTX 3090 8.6). The ComfyUI side (tests marked ``comfyui``, set COMFYUI_PATH) runs ComfyUI's own model
management on the same simulated card (its device properties patched), so the test fails when either
front-end's choice drifts from the other's.
"""
from __future__ import annotations

import gc
import os
import types
import weakref

import pytest
import torch

from comfy_nodes import core, import_comfy, node_module, only_model_folders, requires_comfyui
from latentsync_core import cli
from latentsync_core.errors import MissingModelError
from latentsync_core.files import model_files as mf
from latentsync_core.files.run_files import ModelsFolder, run_files
from latentsync_core.run.host import (
    RESTORER,
    UNET,
    VAE,
    WHISPER,
    FolderHost,
    RehostedCopies,
    frames_that_fit,
    landmark_backend,
    lipsync_dtypes,
    model_dtype,
)

def in_comfyui(test):
    """Mark ``test`` as needing ComfyUI (skipped without COMFYUI_PATH)."""
    for mark in requires_comfyui:
        test = mark(test)
    return test


CARDS = {"T4": (7, 5), "RTX 3090": (8, 6)}
DTYPE_CHOICES = ["auto", "fp32", "fp16", "bf16"]


@pytest.fixture
def card(monkeypatch):
    """Pretend torch sees one CUDA card of the given name and compute capability (nothing runs on it)."""
    def plug(name: str) -> None:
        major, minor = CARDS[name]
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (major, minor))
        monkeypatch.setattr(torch.cuda, "get_device_properties",
                            lambda device=None: types.SimpleNamespace(name=name, major=major, minor=minor))
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # emulated before 8.0
    return plug


def command_line_dtypes(*flags: str):
    """The dtypes ``lipsync FLAGS`` runs the UNet, VAE, Whisper and the restorers in, as ``cli.lipsync`` decides them."""
    args = cli.build_parser().parse_args(["lipsync", "--video", "v.mp4", "--audio", "a.wav", "--output", "o.mp4", *flags])
    host = cli._host(args)
    dtypes = lipsync_dtypes(host, args.dtype)
    return dtypes.unet, dtypes.vae, dtypes.whisper, model_dtype(host, RESTORER)


def test_dtype_bf16_on_a_pre_ampere_card_gives_fp16_unet_and_no_fp16_vae(card, capsys):
    card("T4")
    assert command_line_dtypes("--device", "cuda", "--dtype", "bf16") == (
        torch.float16, torch.float32, torch.float16, torch.float32)
    err = capsys.readouterr().err.splitlines()
    assert err == ["latentsync: the LatentSync UNet in float16 instead of bfloat16: cuda has no native bfloat16 "
                   "(needs compute capability >= 8.0)."]
    assert command_line_dtypes("--device", "cuda", "--dtype", "bf16", "--quiet")[0] == torch.float16
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("choice", DTYPE_CHOICES)
def test_the_vae_never_runs_in_fp16(card, choice):
    for name in CARDS:
        card(name)
        vae = command_line_dtypes("--device", "cuda", "--dtype", choice)[1]
        assert vae == (torch.bfloat16 if CARDS[name] >= (8, 0) else torch.float32)


def test_the_cpu_keeps_float32_unless_asked():
    assert command_line_dtypes("--device", "cpu") == (torch.float32,) * 4
    assert command_line_dtypes("--device", "cpu", "--dtype", "bf16")[:3] == (torch.bfloat16, torch.float32, torch.float32)


@in_comfyui
@pytest.mark.parametrize("name", list(CARDS))
def test_command_line_and_nodes_choose_the_same_dtypes(card, monkeypatch, name):
    comfy = import_comfy()
    mm = comfy.model_management
    host = node_module("host")
    card(name)
    monkeypatch.setattr(mm, "cpu_state", mm.CPUState.GPU)
    monkeypatch.setattr(mm, "get_torch_device", lambda: torch.device("cuda", 0))
    comfy_host = host.ComfyHost()
    comfy_model_dtype = core("run.host").model_dtype
    for choice in DTYPE_CHOICES:
        nodes = (comfy_model_dtype(comfy_host, UNET, choice), comfy_model_dtype(comfy_host, VAE),
                 comfy_model_dtype(comfy_host, WHISPER), comfy_model_dtype(comfy_host, RESTORER))
        assert command_line_dtypes("--device", "cuda:0", "--dtype", choice, "--quiet") == nodes, choice
    # A VAE ComfyUI loaded in fp16 (--fp16-vae) is re-hosted in bf16 / fp32 by the sampler, as the command line runs it.
    sampler_vae = comfy_model_dtype(comfy_host, VAE, torch.float16, torch.device("cuda", 0))
    assert sampler_vae == command_line_dtypes("--device", "cuda:0", "--quiet")[1] != torch.float16


def put(path) -> str:
    """An (empty) file at ``path``, its folders made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return str(path)


def test_models_folder_layout_and_its_plain_folder_fallbacks(tmp_path):
    folders = ModelsFolder(str(tmp_path), download=False)
    assert folders.folder_root("latentsync") == str(tmp_path / "latentsync")
    assert folders.folder_root("insightface/models/buffalo_l") == str(tmp_path)  # no pack: the folder itself
    (tmp_path / "insightface" / "models" / "buffalo_l").mkdir(parents=True)
    assert folders.folder_root("insightface/models/buffalo_l") == str(tmp_path / "insightface" / "models" / "buffalo_l")
    assert folders.folder_root("facerestore_models") == str(tmp_path / "facerestore_models")
    gfpgan = put(tmp_path / "GFPGANv1.4.pth")
    assert folders.locate("facerestore_models", "GFPGANv1.4.pth") == gfpgan
    assert folders.locate("vae", "vae-ft-mse-840000-ema-pruned.safetensors") is None


def test_download_off_names_every_missing_file_in_one_line(tmp_path):
    finder = mf.ModelFileFinder(ModelsFolder(str(tmp_path), download=False))
    unet = finder.named("latentsync", "LatentSync-1.6/latentsync_unet.pt")
    assert unet == str(tmp_path / "latentsync" / "LatentSync-1.6" / "latentsync_unet.pt")
    finder.official(mf.official_file(mf.CODEFORMER))
    assert finder.named("latentsync", "finetuned/mine.pt") is None  # not official: nothing to fetch
    with pytest.raises(MissingModelError) as info:
        finder.fetch()
    message = str(info.value)
    assert "\n" not in message and "automatic download is off" in message
    assert info.value.file_name == "latentsync_unet.pt" and info.value.folder == os.path.dirname(unet)
    assert "Also missing: 'codeformer.pth'" in message and "sczhou/CodeFormer/releases/download" in message


@pytest.mark.parametrize("on_disk, expected", [
    (["LatentSync-1.6/whisper/tiny.pt", "LatentSync-1.5/whisper/tiny.pt"], "LatentSync-1.6/whisper/tiny.pt"),
    (["LatentSync-1.5/whisper/tiny.pt"], "LatentSync-1.5/whisper/tiny.pt"),  # the same file serves 1.6
    ([], None),
])
def test_one_whisper_fallback_for_the_command_line_and_the_loader_node(tmp_path, on_disk, expected):
    put(tmp_path / "latentsync" / "LatentSync-1.6" / "latentsync_unet.pt")
    put(tmp_path / "vae" / "vae-ft-mse-840000-ema-pruned.safetensors")
    for name in on_disk:
        put(tmp_path / "latentsync" / name)
    folders = ModelsFolder(str(tmp_path), download=False)
    request = mf.ModelRequest(unet="LatentSync-1.6/latentsync_unet.pt", vae="vae-ft-mse-840000-ema-pruned.safetensors")
    if expected is None:
        for resolve in (lambda: run_files(folders, "1.6", "none"), lambda: mf.resolve_paths(request, folders)):
            with pytest.raises(MissingModelError, match="ByteDance/LatentSync-1.6/resolve/main/whisper/tiny.pt"):
                resolve()
        return
    want = str(tmp_path / "latentsync" / expected)
    assert run_files(folders, "1.6", "none").whisper == mf.resolve_paths(request, folders).whisper == want


@in_comfyui
def test_comfyui_folders_resolve_as_the_models_folder_does(tmp_path):
    host = node_module("host")
    resolve = core("files.model_files")
    put(tmp_path / "latentsync" / "LatentSync-1.5" / "latentsync_unet.pt")
    put(tmp_path / "latentsync" / "LatentSync-1.6" / "whisper" / "tiny.pt")
    put(tmp_path / "vae" / "sd-vae-ft-mse" / "diffusion_pytorch_model.safetensors")
    request = resolve.ModelRequest(unet="LatentSync-1.5/latentsync_unet.pt", vae="sd-vae-ft-mse/diffusion_pytorch_model.safetensors")
    missing = resolve.ModelRequest(unet="LatentSync-1.6/latentsync_unet.pt")
    with only_model_folders(latentsync=tmp_path / "latentsync", vae=tmp_path / "vae"):
        in_comfyui = resolve.resolve_paths(request, host.ComfyHost())
        with pytest.raises(core("errors").MissingModelError) as comfyui_error:
            resolve.resolve_paths(missing, host.ComfyHost())
    assert vars(in_comfyui) == vars(mf.resolve_paths(request, ModelsFolder(str(tmp_path), download=False)))
    assert in_comfyui.whisper == str(tmp_path / "latentsync" / "LatentSync-1.6" / "whisper" / "tiny.pt")
    with pytest.raises(MissingModelError) as folder_error:
        mf.resolve_paths(missing, ModelsFolder(str(tmp_path), download=False))
    assert str(comfyui_error.value) == str(folder_error.value)
    assert comfyui_error.value.folder == str(tmp_path / "latentsync" / "LatentSync-1.6")


def test_landmark_backend_reads_insightface_from_the_hosts_folder(tmp_path):
    with pytest.raises(MissingModelError) as info:
        landmark_backend(FolderHost(str(tmp_path)), "insightface")
    assert info.value.folder == str(tmp_path)
    pack = tmp_path / "insightface" / "models" / "buffalo_l"
    pack.mkdir(parents=True)
    with pytest.raises(MissingModelError) as info:
        landmark_backend(FolderHost(str(tmp_path)), "insightface")
    assert info.value.folder == str(pack)


@in_comfyui
def test_landmark_backend_in_comfyui_reads_the_insightface_folder(tmp_path):
    host = node_module("host")
    with only_model_folders(insightface=tmp_path), pytest.raises(core("errors").MissingModelError) as info:
        core("run.host").landmark_backend(host.ComfyHost(), "insightface")
    assert info.value.folder == str(tmp_path / "models" / "buffalo_l")


def test_frames_that_fit_the_free_memory(monkeypatch):
    host = FolderHost()
    monkeypatch.setattr(FolderHost, "free_memory", lambda self, device: 10_000)
    assert frames_that_fit(host, torch.device("cpu"), 3_000) == 3
    assert frames_that_fit(host, torch.device("cpu"), 50_000) == 1  # always at least one frame
    assert frames_that_fit(host, torch.device("cpu"), 0) == 10_000


class Copy:
    def __init__(self, tag: int) -> None:
        self.tag = tag


def test_rehosted_copies_are_made_once_per_source_and_key():
    copies: RehostedCopies[Copy] = RehostedCopies()
    made = []

    def build(tag):
        return lambda: made.append(tag) or Copy(tag)

    source, other = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)
    first = copies.get(source, ("cpu", torch.float32), build(1))
    assert copies.get(source, ("cpu", torch.float32), build(2)) is first
    assert copies.get(source, ("cpu", torch.bfloat16), build(3)).tag == 3  # another dtype: made again
    assert copies.get(other, ("cpu", torch.bfloat16), build(4)).tag == 4
    assert made == [1, 3, 4]
    kept = weakref.ref(copies.get(source, ("cpu", torch.bfloat16), build(5)))
    del source, first
    gc.collect()
    assert kept() is None  # a copy does not outlive its source
