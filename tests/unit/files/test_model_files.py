"""Model-file table, local layout and downloads (latentsync_core.files.model_files).

Downloads never leave the machine: they go through a downloader written here, or through
the real ``huggingface_hub.hf_hub_download`` pointed (``HF_ENDPOINT``) at a small HTTP
server on 127.0.0.1 that answers the Hub's ``resolve`` URLs with the headers
huggingface_hub reads (``X-Repo-Commit``, ``ETag``, ``Content-Length``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import http.server
import os
import subprocess
import sys
import threading

import pytest

from fake_hub import FakeHub, files_under
from latentsync_core.files import model_files as mf
from latentsync_core.errors import MissingModelError
from repo_paths import ROOT

PAYLOAD = os.urandom(3000) + b"latentsync"


@pytest.fixture(autouse=True)
def _no_real_hub(monkeypatch):
    """No test reaches huggingface.co: an unreachable endpoint unless a test sets its own."""
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")


@pytest.fixture
def unverified(monkeypatch):
    """The table without digests, for tests whose downloads serve made-up bytes."""
    monkeypatch.setattr(mf, "OFFICIAL_FILES", tuple(dataclasses.replace(e, sha256=None) for e in mf.OFFICIAL_FILES))


def test_table_urls_and_layout(monkeypatch):
    monkeypatch.delenv("HF_ENDPOINT")
    unet15 = mf.official_file(mf.UNET, "1.5")
    assert unet15.url == "https://huggingface.co/ByteDance/LatentSync-1.5/resolve/main/latentsync_unet.pt"
    assert unet15.folder == "latentsync" and unet15.relative_path == "LatentSync-1.5/latentsync_unet.pt"
    whisper16 = mf.official_file(mf.WHISPER, "1.6")
    assert whisper16.url == "https://huggingface.co/ByteDance/LatentSync-1.6/resolve/main/whisper/tiny.pt"
    assert whisper16.relative_path == "LatentSync-1.6/whisper/tiny.pt" and whisper16.file_name == "tiny.pt"
    assert whisper16.local_path("/m/latentsync") == os.path.join("/m/latentsync", "LatentSync-1.6", "whisper", "tiny.pt")
    vae = mf.official_file(mf.VAE)
    assert vae.url == ("https://huggingface.co/stabilityai/sd-vae-ft-mse-original/resolve/main/"
                       "vae-ft-mse-840000-ema-pruned.safetensors")
    assert vae.folder == "vae" and vae.relative_path == "vae-ft-mse-840000-ema-pruned.safetensors"
    diffusers = mf.official_files(mf.VAE_DIFFUSERS)
    assert [e.relative_path for e in diffusers] == [
        "sd-vae-ft-mse/diffusion_pytorch_model.safetensors", "sd-vae-ft-mse/config.json"]
    assert {e.repo_id for e in diffusers} == {"stabilityai/sd-vae-ft-mse"}
    # Published digests only: every LFS weight file and release file has one, the diffusers config (plain git) none.
    unverified = [e.relative_path for e in mf.OFFICIAL_FILES if e.sha256 is None]
    assert unverified == ["sd-vae-ft-mse/config.json"]
    assert all(len(e.sha256) == 64 and int(e.sha256, 16) >= 0 for e in mf.OFFICIAL_FILES if e.sha256)
    # Whisper tiny is OpenAI's file: the digest OpenAI puts in its download URL, for both versions.
    assert {e.sha256 for e in mf.official_files(mf.WHISPER, "1.5") + mf.official_files(mf.WHISPER, "1.6")} == {
        "65147644a518d12f04e32d6f3b26facc3f8dd46e5390956a9424a650c0ce22b9"}
    assert mf.official_file(mf.UNET, "1.5").sha256 != mf.official_file(mf.UNET, "1.6").sha256


def test_release_files_urls_and_endpoint(monkeypatch):
    monkeypatch.delenv(mf.GITHUB_ENDPOINT_ENV, raising=False)
    gfpgan = mf.official_file(mf.GFPGAN)
    assert gfpgan.url == "https://github.com/TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.4.pth"
    assert gfpgan.folder == "facerestore_models" and gfpgan.relative_path == "GFPGANv1.4.pth"
    assert mf.official_file(mf.CODEFORMER).url == "https://github.com/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth"
    monkeypatch.setenv(mf.GITHUB_ENDPOINT_ENV, "http://mirror.example/gh/")
    assert mf.official_file(mf.UPSCALER).url == "http://mirror.example/gh/xinntao/Real-ESRGAN/releases/download/v0.2.1/RealESRGAN_x2plus.pth"


def test_endpoint_override_changes_urls(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "https://mirror.example/")
    assert mf.official_file(mf.UNET, "1.6").url == "https://mirror.example/ByteDance/LatentSync-1.6/resolve/main/latentsync_unet.pt"


def test_lookup_by_listed_name_and_whisper_beside():
    assert mf.find_official("latentsync", "LatentSync-1.6\\latentsync_unet.pt") == mf.official_file(mf.UNET, "1.6")
    assert mf.find_official("vae", "LatentSync-1.6/latentsync_unet.pt") is None
    assert mf.find_official("latentsync", "mine/latentsync_unet.pt") is None
    assert mf.whisper_beside("LatentSync-1.5/latentsync_unet.pt") == mf.official_file(mf.WHISPER, "1.5").relative_path
    assert mf.whisper_beside("latentsync_unet.pt") == "whisper/tiny.pt"
    with pytest.raises(ValueError, match="1.5, 1.6"):
        mf.official_file(mf.UNET, "1.0")


def _never(*_):
    raise AssertionError("the downloader must not be called")


def test_present_files_are_returned_without_download(tmp_path):
    wanted = mf.wanted_files([mf.official_file(mf.UNET, "1.5")], {"latentsync": str(tmp_path)})
    os.makedirs(os.path.dirname(wanted[0].path))
    open(wanted[0].path, "wb").close()
    assert mf.ensure_files(wanted, download=True, downloader=_never) == [wanted[0].path]


def test_missing_files_without_download_name_file_folder_and_url(tmp_path):
    roots = {"latentsync": str(tmp_path / "latentsync"), "vae": str(tmp_path / "vae")}
    wanted = mf.wanted_files([mf.official_file(mf.UNET, "1.6"), mf.official_file(mf.VAE)], roots)
    with pytest.raises(MissingModelError) as info:
        mf.ensure_files(wanted, download=False, downloader=_never)
    err, msg = info.value, str(info.value)
    assert err.file_name == "latentsync_unet.pt"
    assert err.folder == os.path.join(roots["latentsync"], "LatentSync-1.6")
    assert err.url == "http://127.0.0.1:9/ByteDance/LatentSync-1.6/resolve/main/latentsync_unet.pt"
    assert "automatic download is off" in msg
    # the second missing file is named in the same message
    assert "vae-ft-mse-840000-ema-pruned.safetensors" in msg and roots["vae"] in msg
    assert "stabilityai/sd-vae-ft-mse-original/resolve/main/vae-ft-mse-840000-ema-pruned.safetensors" in msg
    assert not os.path.exists(tmp_path / "latentsync")


def fake_downloader(content: bytes, calls: list):
    """Writes ``content`` where hf_hub_download(local_dir=...) would put ``repo_path``."""

    def download(repo_id: str, repo_path: str, local_dir: str) -> str:
        calls.append((repo_id, repo_path))
        path = os.path.join(local_dir, *repo_path.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
        return path

    return download


def with_sha(entry: mf.ModelFile, content: bytes) -> mf.ModelFile:
    return dataclasses.replace(entry, sha256=hashlib.sha256(content).hexdigest().upper())


def test_download_places_verified_file_and_cleans_staging(tmp_path):
    entry = with_sha(mf.official_file(mf.WHISPER, "1.5"), PAYLOAD)
    calls: list = []
    [path] = mf.ensure_files([mf.Wanted(entry, str(tmp_path))], True, fake_downloader(PAYLOAD, calls))
    assert calls == [("ByteDance/LatentSync-1.5", "whisper/tiny.pt")]
    assert path == os.path.join(str(tmp_path), "LatentSync-1.5", "whisper", "tiny.pt")
    assert open(path, "rb").read() == PAYLOAD
    assert files_under(tmp_path) == [os.path.join("LatentSync-1.5", "whisper", "tiny.pt")]


def test_hub_file_staged_private_gets_a_new_files_mode(tmp_path, umask_027):
    entry = with_sha(mf.official_file(mf.WHISPER, "1.5"), PAYLOAD)

    def private_download(repo_id: str, repo_path: str, local_dir: str) -> str:
        path = fake_downloader(PAYLOAD, [])(repo_id, repo_path, local_dir)
        os.chmod(path, 0o600)  # as a temporary file of the Hub client may be
        return path

    [path] = mf.ensure_files([mf.Wanted(entry, str(tmp_path))], True, private_download)
    assert os.stat(path).st_mode & 0o777 == 0o640


def test_checksum_mismatch_is_refused_and_leaves_nothing(tmp_path):
    entry = with_sha(mf.official_file(mf.UNET, "1.6"), b"the expected bytes")
    with pytest.raises(MissingModelError, match="checksum mismatch") as info:
        mf.ensure_files([mf.Wanted(entry, str(tmp_path))], True, fake_downloader(PAYLOAD, []))
    assert info.value.file_name == "latentsync_unet.pt"
    assert files_under(tmp_path) == []


@pytest.mark.usefixtures("unverified")
def test_failed_download_keeps_other_files_and_reports_all(tmp_path):
    def flaky(repo_id, repo_path, local_dir):
        if repo_path.endswith(".pt") and "whisper" in repo_path:
            raise OSError("connection reset")
        return fake_downloader(PAYLOAD, [])(repo_id, repo_path, local_dir)

    wanted = mf.wanted_files([mf.official_file(mf.UNET, "1.5"), mf.official_file(mf.WHISPER, "1.5")],
                             {"latentsync": str(tmp_path)})
    with pytest.raises(MissingModelError, match="download failed: connection reset") as info:
        mf.ensure_files(wanted, True, flaky)
    assert info.value.file_name == "tiny.pt"
    assert os.path.isfile(wanted[0].path)  # the UNet that did download stays


def test_after_a_failed_download_the_rest_are_not_tried(tmp_path):
    calls = []

    def offline(repo_id, repo_path, local_dir):
        calls.append(repo_path)
        raise OSError("no route to host")

    wanted = mf.wanted_files([mf.official_file(mf.UNET, "1.6"), mf.official_file(mf.WHISPER, "1.6")],
                             {"latentsync": str(tmp_path)})
    with pytest.raises(MissingModelError, match="no route to host") as info:
        mf.ensure_files(wanted, True, offline)
    assert calls == ["latentsync_unet.pt"]
    assert "Also missing: 'tiny.pt'" in str(info.value)
    assert files_under(tmp_path) == []


@pytest.mark.usefixtures("unverified")
def test_interrupted_download_keeps_its_partial_file_for_resuming(tmp_path):
    def interrupted(repo_id, repo_path, local_dir):
        partial = os.path.join(local_dir, ".cache", "huggingface", "download", repo_path + ".incomplete")
        os.makedirs(os.path.dirname(partial))
        with open(partial, "wb") as f:
            f.write(PAYLOAD[:100])
        raise OSError("connection reset")

    wanted = mf.wanted_files([mf.official_file(mf.UNET, "1.5")], {"latentsync": str(tmp_path)})
    with pytest.raises(MissingModelError, match="connection reset"):
        mf.ensure_files(wanted, True, interrupted)
    [partial] = files_under(tmp_path)
    assert partial.startswith(os.path.join("LatentSync-1.5", mf.STAGING_DIR)) and partial.endswith(".incomplete")
    mf.ensure_files(wanted, True, fake_downloader(PAYLOAD, []))
    assert files_under(tmp_path) == [os.path.join("LatentSync-1.5", "latentsync_unet.pt")]


@pytest.fixture
def fake_hub(monkeypatch):
    FakeHub.files = {"ByteDance/LatentSync-1.6/resolve/main/whisper/tiny.pt": PAYLOAD}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    yield server
    server.shutdown()
    server.server_close()


def test_hf_hub_download_from_local_hub(tmp_path, fake_hub):
    entry = with_sha(mf.official_file(mf.WHISPER, "1.6"), PAYLOAD)
    [path] = mf.ensure_files([mf.Wanted(entry, str(tmp_path))], download=True)
    assert path == os.path.join(str(tmp_path), "LatentSync-1.6", "whisper", "tiny.pt")
    assert open(path, "rb").read() == PAYLOAD
    assert files_under(tmp_path) == [os.path.join("LatentSync-1.6", "whisper", "tiny.pt")]


def test_hf_hub_download_checksum_mismatch_leaves_nothing(tmp_path, fake_hub):
    entry = with_sha(mf.official_file(mf.WHISPER, "1.6"), b"other bytes")
    with pytest.raises(MissingModelError, match="checksum mismatch"):
        mf.ensure_files([mf.Wanted(entry, str(tmp_path))], download=True)
    assert files_under(tmp_path) == []


def test_hf_hub_download_of_absent_file_names_its_url(tmp_path, fake_hub):
    entry = mf.official_file(mf.UNET, "1.6")
    with pytest.raises(MissingModelError, match="download failed") as info:
        mf.ensure_files([mf.Wanted(entry, str(tmp_path))], download=True)
    assert info.value.url == f"http://127.0.0.1:{fake_hub.server_port}/ByteDance/LatentSync-1.6/resolve/main/latentsync_unet.pt"
    assert info.value.folder == os.path.join(str(tmp_path), "LatentSync-1.6")


_OFFLINE_SCRIPT = """
import sys
from latentsync_core.files import model_files as mf
from latentsync_core.errors import MissingModelError
try:
    mf.ensure_files(mf.wanted_files([mf.official_file("unet", "1.5")], {"latentsync": sys.argv[1]}), download=True)
except MissingModelError as err:
    print(err.file_name, err.folder, err.url, sep="\\n")
    print(err)
"""


def test_offline_mode_gives_missing_model_error(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9", "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-c", _OFFLINE_SCRIPT, str(tmp_path)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    lines = out.stdout.splitlines()
    assert lines[:3] == ["latentsync_unet.pt", os.path.join(str(tmp_path), "LatentSync-1.5"),
                         "http://127.0.0.1:9/ByteDance/LatentSync-1.5/resolve/main/latentsync_unet.pt"], out.stderr
    assert "(offline mode is on (HF_HUB_OFFLINE is set))" in lines[3]
    assert files_under(tmp_path) == []


@dataclasses.dataclass
class Folders:
    """A ComfyUI-like models folder as the resolver sees it: roots per model folder and a filesystem ``locate``."""

    roots: dict
    download: bool = True

    def folder_root(self, folder: str) -> str:
        return self.roots[folder]

    def locate(self, folder: str, name: str) -> str | None:
        path = os.path.join(self.roots[folder], *name.split("/"))
        return path if os.path.isfile(path) else None


@pytest.fixture
def models(tmp_path):
    """Roots per model folder, the resolver's folders (by ``download``) and a way to put files there."""
    roots = {"latentsync": str(tmp_path / "latentsync"), "vae": str(tmp_path / "vae")}

    def folders(download: bool) -> Folders:
        return Folders(roots, download)

    def put(folder: str, name: str) -> str:
        path = os.path.join(roots[folder], *name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(name.encode())
        return path

    return roots, folders, put


def test_resolve_present_official_files(models):
    roots, folders, put = models
    unet = put("latentsync", "LatentSync-1.6/latentsync_unet.pt")
    whisper = put("latentsync", "LatentSync-1.6/whisper/tiny.pt")
    vae = put("vae", "vae-ft-mse-840000-ema-pruned.safetensors")
    request = mf.ModelRequest(unet="LatentSync-1.6\\latentsync_unet.pt", vae="vae-ft-mse-840000-ema-pruned.safetensors")
    assert mf.resolve_paths(request, folders(True), downloader=_never) == mf.ModelPaths(unet, whisper, vae)


def test_resolve_without_download_names_every_missing_file(models):
    roots, folders, _ = models
    request = mf.ModelRequest(unet="LatentSync-1.5/latentsync_unet.pt", vae="vae-ft-mse-840000-ema-pruned.safetensors")
    with pytest.raises(MissingModelError) as info:
        mf.resolve_paths(request, folders(False), downloader=_never)
    msg = str(info.value)
    assert info.value.url.endswith("ByteDance/LatentSync-1.5/resolve/main/latentsync_unet.pt")
    assert "ByteDance/LatentSync-1.5/resolve/main/whisper/tiny.pt" in msg
    assert os.path.join(roots["latentsync"], "LatentSync-1.5", "whisper") in msg
    assert "sd-vae-ft-mse-original/resolve/main/vae-ft-mse-840000-ema-pruned.safetensors" in msg


@pytest.mark.usefixtures("unverified")
def test_resolve_downloads_into_the_layout(models):
    roots, folders, _ = models
    calls: list = []
    request = mf.ModelRequest(unet="LatentSync-1.5/latentsync_unet.pt", version="1.5",
                              vae="sd-vae-ft-mse/diffusion_pytorch_model.safetensors")
    paths = mf.resolve_paths(request, folders(True), downloader=fake_downloader(PAYLOAD, calls))
    assert calls == [("ByteDance/LatentSync-1.5", "latentsync_unet.pt"), ("ByteDance/LatentSync-1.5", "whisper/tiny.pt"),
                     ("stabilityai/sd-vae-ft-mse", "diffusion_pytorch_model.safetensors"),
                     ("stabilityai/sd-vae-ft-mse", "config.json")]
    assert paths.whisper == os.path.join(roots["latentsync"], "LatentSync-1.5", "whisper", "tiny.pt")
    assert files_under(os.path.dirname(roots["vae"])) == sorted([
        os.path.join("latentsync", "LatentSync-1.5", "latentsync_unet.pt"),
        os.path.join("latentsync", "LatentSync-1.5", "whisper", "tiny.pt"),
        os.path.join("vae", "sd-vae-ft-mse", "config.json"),
        os.path.join("vae", "sd-vae-ft-mse", "diffusion_pytorch_model.safetensors")])


def test_custom_unet_uses_any_official_whisper_on_disk(models):
    roots, folders, put = models
    unet = put("latentsync", "finetuned/my_unet.pt")
    whisper = put("latentsync", "LatentSync-1.5/whisper/tiny.pt")
    paths = mf.resolve_paths(mf.ModelRequest(unet="finetuned/my_unet.pt", version="1.6"), folders(False), _never)
    assert paths == mf.ModelPaths(unet, whisper, None)


def test_custom_unet_missing_points_to_the_chosen_version(models):
    roots, folders, _ = models
    with pytest.raises(MissingModelError, match="not an official file") as info:
        mf.resolve_paths(mf.ModelRequest(unet="finetuned/my_unet.pt", version="1.5"), folders(True), _never)
    assert info.value.file_name == "my_unet.pt"
    assert info.value.folder == os.path.join(roots["latentsync"], "finetuned")
    assert info.value.url.endswith("ByteDance/LatentSync-1.5/resolve/main/latentsync_unet.pt")


def test_version_choice_contradicting_the_official_folder_is_refused_before_download(models):
    roots, folders, _ = models
    with pytest.raises(ValueError, match="LatentSync 1.6 UNet but version 1.5"):
        mf.resolve_paths(mf.ModelRequest(unet="LatentSync-1.6/latentsync_unet.pt", version="1.5"), folders(True), _never)
    with pytest.raises(ValueError, match="Unknown LatentSync version"):
        mf.resolve_paths(mf.ModelRequest(unet="LatentSync-1.6/latentsync_unet.pt", version="2.0"), folders(True), _never)


def test_choices_put_official_files_first_and_skip_staging_and_caches():
    listed = ["LatentSync-1.5\\latentsync_unet.pt", "LatentSync-1.5/whisper/tiny.pt", "finetuned/step_2000.pt",
              "LatentSync-1.6/.download/latentsync_unet.pt__x/latentsync_unet.pt",
              "LatentSync-1.6/.cache/huggingface/download/latentsync_unet.pt.metadata",
              "whisper/tiny.pt", "whisper/notes.txt", "README.md"]
    assert mf.unet_choices(listed) == ["LatentSync-1.5/latentsync_unet.pt", "LatentSync-1.6/latentsync_unet.pt",
                                       "finetuned/step_2000.pt"]
    assert mf.whisper_choices(listed) == ["LatentSync-1.5/whisper/tiny.pt", "LatentSync-1.6/whisper/tiny.pt",
                                          "whisper/tiny.pt"]
    assert mf.vae_choices(["sdxl_vae.safetensors", "vae-ft-mse-840000-ema-pruned.safetensors"]) == [
        "vae-ft-mse-840000-ema-pruned.safetensors", "sd-vae-ft-mse/diffusion_pytorch_model.safetensors",
        "sdxl_vae.safetensors"]
