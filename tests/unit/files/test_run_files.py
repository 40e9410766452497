"""The files one command-line run needs (latentsync_core.files.run_files), found, downloaded or named.

Downloads never leave the machine: the Hub and GitHub are one HTTP server on 127.0.0.1
(``HF_ENDPOINT`` and ``LATENTSYNC_GITHUB_ENDPOINT`` point at it) answering the Hub's
``resolve`` URLs and GitHub's ``releases/download`` URLs with made-up bytes. Tests that
expect a download to succeed put the digest of those bytes into the table; the others keep
the published digests, which the made-up bytes do not match.
"""
from __future__ import annotations

import dataclasses
import hashlib
import http.server
import os
import threading

import pytest

from latentsync_core.errors import BadInputError, MissingModelError
from latentsync_core.files import model_files as mf
from latentsync_core.files import run_files as rf
from fake_hub import FakeHub, files_under

PAYLOAD = os.urandom(2048) + b"weights"
HUB_FILES = {
    "ByteDance/LatentSync-1.5/resolve/main/latentsync_unet.pt",
    "ByteDance/LatentSync-1.5/resolve/main/whisper/tiny.pt",
    "stabilityai/sd-vae-ft-mse-original/resolve/main/vae-ft-mse-840000-ema-pruned.safetensors",
    "TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.4.pth",
    "sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth",
    "xinntao/Real-ESRGAN/releases/download/v0.2.1/RealESRGAN_x2plus.pth",
}


class CountingHub(FakeHub):
    requests: list[str] = []

    def do_GET(self):
        CountingHub.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def server(monkeypatch):
    CountingHub.files = {path: PAYLOAD for path in HUB_FILES}
    CountingHub.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CountingHub)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    monkeypatch.setenv("HF_ENDPOINT", base)
    monkeypatch.setenv(mf.GITHUB_ENDPOINT_ENV, base)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield base
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def payload_digests(monkeypatch):
    """Every table entry expects PAYLOAD's sha256."""
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    monkeypatch.setattr(mf, "OFFICIAL_FILES", tuple(dataclasses.replace(e, sha256=digest) for e in mf.OFFICIAL_FILES))


def put(path) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"x")
    return str(path)


def never(*_):
    raise AssertionError("nothing may be downloaded")


def test_present_files_are_used_as_they_are(tmp_path):
    unet = put(tmp_path / "latentsync" / "LatentSync-1.6" / "latentsync_unet.pt")
    # Whisper tiny is the same file for both versions: 1.5's copy serves a 1.6 run.
    whisper = put(tmp_path / "latentsync" / "LatentSync-1.5" / "whisper" / "tiny.pt")
    vae = put(tmp_path / "vae" / "vae-ft-mse-840000-ema-pruned.safetensors")
    gfpgan = put(tmp_path / "facerestore_models" / "GFPGANv1.3.pth")
    codeformer = put(tmp_path / "facerestore_models" / "codeformer.pth")
    upscaler = put(tmp_path / "elsewhere" / "4x mine é.pth")
    files = rf.run_files(rf.ModelsFolder(str(tmp_path), True), "1.6", "both", bg_upscale=upscaler, downloader=never)
    assert files == rf.RunFiles(unet, whisper, vae, (gfpgan, codeformer), upscaler)


def test_diffusers_vae_copy_is_used_when_complete(tmp_path):
    put(tmp_path / "latentsync" / "LatentSync-1.5" / "latentsync_unet.pt")
    put(tmp_path / "latentsync" / "LatentSync-1.5" / "whisper" / "tiny.pt")
    weights = put(tmp_path / "vae" / "sd-vae-ft-mse" / "diffusion_pytorch_model.safetensors")
    put(tmp_path / "vae" / "sd-vae-ft-mse" / "config.json")
    assert rf.run_files(rf.ModelsFolder(str(tmp_path), False), "1.5", "none").vae == weights


def test_enhance_accepts_a_plain_folder_of_restorer_files(tmp_path):
    gfpgan = put(tmp_path / "GFPGANv1.4.pth")
    assert rf.run_files(rf.ModelsFolder(str(tmp_path), False), None, "GFPGAN") == rf.RunFiles(restorers=(gfpgan,))


@pytest.mark.usefixtures("payload_digests")
def test_missing_files_are_downloaded_into_the_layout(tmp_path, server):
    upscale = tmp_path / "upscale_models"
    files = rf.run_files(rf.ModelsFolder(str(tmp_path), True), "1.5", "both", bg_upscale="RealESRGAN_x2plus.pth")
    assert files == rf.RunFiles(
        unet=str(tmp_path / "latentsync" / "LatentSync-1.5" / "latentsync_unet.pt"),
        whisper=str(tmp_path / "latentsync" / "LatentSync-1.5" / "whisper" / "tiny.pt"),
        vae=str(tmp_path / "vae" / "vae-ft-mse-840000-ema-pruned.safetensors"),
        restorers=(str(tmp_path / "facerestore_models" / "GFPGANv1.4.pth"), str(tmp_path / "facerestore_models" / "codeformer.pth")),
        upscaler=str(upscale / "RealESRGAN_x2plus.pth"),
    )
    assert len(files_under(tmp_path)) == 6  # no staging folder or partial file is left
    assert all(open(p, "rb").read() == PAYLOAD for p in (files.unet, files.whisper, files.vae, *files.restorers, files.upscaler))


def test_checksum_mismatch_of_a_release_file_leaves_nothing(tmp_path, server):
    with pytest.raises(MissingModelError, match="checksum mismatch: expected sha256 e2cd4703") as info:
        rf.run_files(rf.ModelsFolder(str(tmp_path), True), None, "GFPGAN")
    assert info.value.url == f"{server}/TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.4.pth"
    assert files_under(tmp_path) == []


def test_checksum_mismatch_of_a_hub_file_leaves_nothing(tmp_path, server):
    with pytest.raises(MissingModelError, match="checksum mismatch: expected sha256 6440b49a"):
        rf.run_files(rf.ModelsFolder(str(tmp_path), True), "1.5", "none")
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("how", ["download off", "HF_HUB_OFFLINE"])
def test_offline_names_every_missing_file_its_folder_and_url_and_fetches_nothing(tmp_path, server, monkeypatch, how):
    if how == "HF_HUB_OFFLINE":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MissingModelError) as info:
        rf.run_files(rf.ModelsFolder(str(tmp_path), how != "download off"), "1.6", "both")
    message = str(info.value)
    assert "\n" not in message
    assert ("offline mode is on" in message) == (how == "HF_HUB_OFFLINE")
    for folder, name, url in [
        ("latentsync/LatentSync-1.6", "latentsync_unet.pt", "ByteDance/LatentSync-1.6/resolve/main/latentsync_unet.pt"),
        ("latentsync/LatentSync-1.6/whisper", "tiny.pt", "ByteDance/LatentSync-1.6/resolve/main/whisper/tiny.pt"),
        ("vae", "vae-ft-mse-840000-ema-pruned.safetensors", "stabilityai/sd-vae-ft-mse-original/resolve/main/vae-ft-mse-840000-ema-pruned.safetensors"),
        ("facerestore_models", "GFPGANv1.4.pth", "TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.4.pth"),
        ("facerestore_models", "codeformer.pth", "sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth"),
    ]:
        assert f"'{name}'" in message and str(tmp_path / folder) in message and f"{server}/{url}" in message
    assert CountingHub.requests == [] and files_under(tmp_path) == []


def test_unreachable_server_tries_once_then_names_the_rest(tmp_path, monkeypatch):
    monkeypatch.setenv(mf.GITHUB_ENDPOINT_ENV, "http://127.0.0.1:9")
    with pytest.raises(MissingModelError, match="download failed") as info:
        rf.run_files(rf.ModelsFolder(str(tmp_path), True), None, "both")
    assert info.value.file_name == "GFPGANv1.4.pth"
    assert "Also missing: 'codeformer.pth'" in str(info.value)
    assert files_under(tmp_path) == []


def test_bad_choices_are_refused(tmp_path):
    with pytest.raises(BadInputError, match="RealESRGAN_x2plus.pth, RealESRGAN_x4plus.pth"):
        rf.run_files(rf.ModelsFolder(str(tmp_path), False), None, "none", bg_upscale="4x-nope.pth")
    with pytest.raises(BadInputError, match="1.5, 1.6"):
        rf.run_files(rf.ModelsFolder(str(tmp_path), False), "1.0", "none")
    with pytest.raises(BadInputError, match="GFPGAN"):
        rf.run_files(rf.ModelsFolder(str(tmp_path), False), "1.5", "gfpgan")
