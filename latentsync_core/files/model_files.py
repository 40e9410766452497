"""Where the pack's model files come from and where they live under ComfyUI's ``models`` folder.

One table, :data:`OFFICIAL_FILES`, lists every file the pack can fetch: its Hugging Face
repository and path there (or its GitHub release), the ComfyUI model folder it belongs in,
the sub-folder it goes to and, where a public source publishes it, its sha256. The layout
on disk (relative to ComfyUI's ``models``)::

    latentsync/LatentSync-1.5/latentsync_unet.pt
    latentsync/LatentSync-1.5/whisper/tiny.pt
    latentsync/LatentSync-1.6/latentsync_unet.pt
    latentsync/LatentSync-1.6/whisper/tiny.pt
    vae/vae-ft-mse-840000-ema-pruned.safetensors            (single file, what ComfyUI users have)
    vae/sd-vae-ft-mse/diffusion_pytorch_model.safetensors   (diffusers layout, with config.json)
    facerestore_models/GFPGANv1.4.pth, GFPGANv1.3.pth, codeformer.pth   (GitHub releases)
    upscale_models/RealESRGAN_x2plus.pth, RealESRGAN_x4plus.pth         (GitHub releases)

The sub-folder names the LatentSync version (1.5 and 1.6 files have identical layouts);
:mod:`latentsync_core.checkpoints` reads the version from it.

:class:`ModelFileFinder` is the one resolver every front-end uses: it finds files in a host's
:class:`ModelFolders` (:func:`resolve_paths` turns the names ComfyUI lists, a path relative to a model
folder, into absolute paths with it); :func:`ensure_files` makes a set of table files available, downloading
the missing ones when asked (Hugging Face files with ``huggingface_hub.hf_hub_download``,
release files with :func:`~latentsync_core.files.downloads.download_file`). A download lands in a hidden
staging folder first and is moved into place only once complete and, where the table
knows its sha256, verified; a file that fails the check is deleted. Without a download
(off, offline or failed) it raises :class:`~latentsync_core.errors.MissingModelError`
naming every missing file, its folder and its URL.

This module imports neither torch nor ComfyUI.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Protocol, Sequence

from ..errors import BadInputError, MissingModelError
from .downloads import OFFLINE_ENV, download_file, offline_mode
from .permissions import give_new_file_mode

VERSIONS = ("1.5", "1.6")
LATENTSYNC_FOLDER = "latentsync"
"""ComfyUI model-folder type of the UNet and Whisper files (``models/latentsync``)."""
VAE_FOLDER = "vae"
"""ComfyUI model-folder type of the VAE (``models/vae``, shared with ComfyUI's Load VAE)."""
STAGING_DIR = ".download"
"""Hidden folder, inside a file's destination folder, that downloads are staged in."""
FACERESTORE_FOLDER = "facerestore_models"
"""ComfyUI model-folder type of GFPGAN / CodeFormer (the folder facerestore_cf and ReActor use)."""
UPSCALE_FOLDER = "upscale_models"
"""ComfyUI model-folder type of image upscalers (core Load Upscale Model)."""
HF_URL = "https://huggingface.co"
GITHUB_URL = "https://github.com"
GITHUB_ENDPOINT_ENV = "LATENTSYNC_GITHUB_ENDPOINT"
"""Environment variable naming a mirror of github.com for release files (as ``HF_ENDPOINT`` does for the Hub)."""

UNET = "unet"
UNET_FILE_NAME = "latentsync_unet.pt"
WHISPER = "whisper"
VAE = "vae"
VAE_DIFFUSERS = "vae_diffusers"
GFPGAN = "GFPGAN"
CODEFORMER = "CodeFormer"
UPSCALER = "upscaler"


@dataclass(frozen=True)
class ModelFile:
    """One downloadable model file.

    Attributes:
        role: what it is: ``unet``, ``whisper``, ``vae``, ``vae_diffusers``, ``GFPGAN``,
            ``CodeFormer`` or ``upscaler``.
        version: LatentSync version it belongs to ("1.5"/"1.6"), None for the others.
        repo_id: Hugging Face repository (``ByteDance/LatentSync-1.6``), or the GitHub
            repository of a release file (``TencentARC/GFPGAN``).
        repo_path: ``/``-separated path inside the repository (``whisper/tiny.pt``), or the
            release asset's name.
        folder: ComfyUI model-folder type it lives in (``latentsync``, ``vae``, ...).
        subdir: sub-folder of that folder the repository's files go to ("" for the top).
        sha256: lower-case hex digest published by a public source (see :data:`OFFICIAL_FILES`),
            None when no source publishes one; downloads are then verified.
        licence: licence of the weights, for the README and tooltips.
        release: GitHub release tag for a release file, None for a Hugging Face file.
    """

    role: str
    version: str | None
    repo_id: str
    repo_path: str
    folder: str
    subdir: str
    sha256: str | None
    licence: str
    release: str | None = None

    @property
    def file_name(self) -> str:
        """Base name, e.g. ``tiny.pt``."""
        return self.repo_path.rsplit("/", 1)[-1]

    @property
    def relative_path(self) -> str:
        """Path inside the model folder, ``/``-separated: the name ComfyUI lists it under."""
        return f"{self.subdir}/{self.repo_path}" if self.subdir else self.repo_path

    @property
    def url(self) -> str:
        """Public download URL (``HF_ENDPOINT`` / ``LATENTSYNC_GITHUB_ENDPOINT`` replace the hosts when set)."""
        if self.release is not None:
            endpoint = os.environ.get(GITHUB_ENDPOINT_ENV, GITHUB_URL).rstrip("/")
            return f"{endpoint}/{self.repo_id}/releases/download/{self.release}/{self.repo_path}"
        endpoint = os.environ.get("HF_ENDPOINT", HF_URL).rstrip("/")
        return f"{endpoint}/{self.repo_id}/resolve/main/{self.repo_path}"

    def local_path(self, folder_root: str) -> str:
        """Where the file lives under ``folder_root`` (a path of its ComfyUI model folder)."""
        return os.path.join(folder_root, *self.relative_path.split("/"))


_LATENTSYNC_LICENCE = "see the model card (LatentSync code: Apache-2.0)"
_WHISPER_LICENCE = "MIT (OpenAI Whisper)"
_VAE_LICENCE = "MIT (stabilityai model card)"
_GFPGAN_LICENCE = "Apache-2.0 (GFPGAN)"
_CODEFORMER_LICENCE = "S-Lab License 1.0 (non-commercial use only)"
_REALESRGAN_LICENCE = "BSD-3-Clause (Real-ESRGAN)"

# Published sha256 values, one per file (None where no public source publishes one).
#
# Hugging Face files: the LFS object id, i.e. the sha256 of the file, that the Hub shows as
# "SHA256" on the file's page and puts in its cdn-lfs download URL. The values were taken
# from public manifests that pin them together with the Hub revision they were read at
# (found with GitHub code search for the digest; several independent projects agree):
#   ByteDance/LatentSync-1.5 @ 32a20d29aead0498e3e885e90dbbe8027da1b61b: latentsync_unet.pt,
#       5,072,348,184 bytes.
#   ByteDance/LatentSync-1.6 @ c42c7e6c8e9c213626389fa7d9a3c444b8536353: latentsync_unet.pt,
#       5,072,222,488 bytes.
#   stabilityai/sd-vae-ft-mse-original @ 629b3ad3030ce36e15e70c5db7d91df0d60c627f:
#       vae-ft-mse-840000-ema-pruned.safetensors, 334,641,190 bytes (the digest is also the
#       object name in the file's cdn-lfs.huggingface.co URL).
#   stabilityai/sd-vae-ft-mse @ 31f26fdeee1355a5c34592e401dd41e45d25a493:
#       diffusion_pytorch_model.safetensors, 334,643,276 bytes. Its config.json is a plain git
#       file, not LFS: no digest is published by the Hub, so it is not verified.
# whisper/tiny.pt in both LatentSync repositories is OpenAI's Whisper tiny checkpoint
# (75,572,083 bytes); OpenAI publishes its sha256 in the download URL in openai/whisper,
# whisper/__init__.py (_MODELS["tiny"]), which whisper checks after every download.
# GitHub release files: TencentARC, sczhou and xinntao publish no digests; the values are the
# ones recorded for these release URLs by independent public download manifests (e.g. the
# AUR python-gfpgan PKGBUILD sha256sums and the ReActor / ComfyUI installer model lists;
# found with GitHub code search for the URL and digest).
_SHA256 = {
    ("ByteDance/LatentSync-1.5", UNET_FILE_NAME): "6440b49a7ccceff56cdc001f5f17605216337f5bbd66fa360139768926e23f51",
    ("ByteDance/LatentSync-1.6", UNET_FILE_NAME): "0a478e89eb660f82da4c35dbdde8a5adfb27f99d1b4e50edd03729e1e98316d3",
    ("whisper", "tiny.pt"): "65147644a518d12f04e32d6f3b26facc3f8dd46e5390956a9424a650c0ce22b9",
    ("stabilityai/sd-vae-ft-mse-original", "vae-ft-mse-840000-ema-pruned.safetensors"):
        "735e4c3a447a3255760d7f86845f09f937809baa529c17370d83e4c3758f3c75",
    ("stabilityai/sd-vae-ft-mse", "diffusion_pytorch_model.safetensors"):
        "a1d993488569e928462932c8c38a0760b874d166399b14414135bd9c42df5815",
    ("TencentARC/GFPGAN", "GFPGANv1.4.pth"): "e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad",
    ("TencentARC/GFPGAN", "GFPGANv1.3.pth"): "c953a88f2727c85c3d9ae72e2bd4846bbaf59fe6972ad94130e23e7017524a70",
    ("sczhou/CodeFormer", "codeformer.pth"): "1009e537e0c2a07d4cabce6355f53cb66767cd4b4297ec7a4a64ca4b8a5684b7",
    ("xinntao/Real-ESRGAN", "RealESRGAN_x4plus.pth"): "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",
    ("xinntao/Real-ESRGAN", "RealESRGAN_x2plus.pth"): "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",
}


def _latentsync_files(version: str) -> tuple[ModelFile, ...]:
    repo = f"ByteDance/LatentSync-{version}"
    subdir = f"LatentSync-{version}"
    return (
        ModelFile(UNET, version, repo, UNET_FILE_NAME, LATENTSYNC_FOLDER, subdir, _SHA256[repo, UNET_FILE_NAME], _LATENTSYNC_LICENCE),
        ModelFile(WHISPER, version, repo, "whisper/tiny.pt", LATENTSYNC_FOLDER, subdir, _SHA256["whisper", "tiny.pt"],
                  _WHISPER_LICENCE),
    )


def _release_file(role: str, repo: str, tag: str, name: str, folder: str, licence: str) -> ModelFile:
    return ModelFile(role, None, repo, name, folder, "", _SHA256.get((repo, name)), licence, release=tag)


OFFICIAL_FILES: tuple[ModelFile, ...] = (
    *_latentsync_files("1.5"),
    *_latentsync_files("1.6"),
    ModelFile(VAE, None, "stabilityai/sd-vae-ft-mse-original", "vae-ft-mse-840000-ema-pruned.safetensors",
              VAE_FOLDER, "", _SHA256["stabilityai/sd-vae-ft-mse-original", "vae-ft-mse-840000-ema-pruned.safetensors"],
              _VAE_LICENCE),
    ModelFile(VAE_DIFFUSERS, None, "stabilityai/sd-vae-ft-mse", "diffusion_pytorch_model.safetensors",
              VAE_FOLDER, "sd-vae-ft-mse", _SHA256["stabilityai/sd-vae-ft-mse", "diffusion_pytorch_model.safetensors"],
              _VAE_LICENCE),
    ModelFile(VAE_DIFFUSERS, None, "stabilityai/sd-vae-ft-mse", "config.json",
              VAE_FOLDER, "sd-vae-ft-mse", None, _VAE_LICENCE),
    _release_file(GFPGAN, "TencentARC/GFPGAN", "v1.3.0", "GFPGANv1.4.pth", FACERESTORE_FOLDER, _GFPGAN_LICENCE),
    _release_file(GFPGAN, "TencentARC/GFPGAN", "v1.3.0", "GFPGANv1.3.pth", FACERESTORE_FOLDER, _GFPGAN_LICENCE),
    _release_file(CODEFORMER, "sczhou/CodeFormer", "v0.1.0", "codeformer.pth", FACERESTORE_FOLDER, _CODEFORMER_LICENCE),
    _release_file(UPSCALER, "xinntao/Real-ESRGAN", "v0.2.1", "RealESRGAN_x2plus.pth", UPSCALE_FOLDER, _REALESRGAN_LICENCE),
    _release_file(UPSCALER, "xinntao/Real-ESRGAN", "v0.1.0", "RealESRGAN_x4plus.pth", UPSCALE_FOLDER, _REALESRGAN_LICENCE),
)
"""Every file the pack can download; the restorers' newest release first (the preferred one)."""

RESTORER_FILES: dict[str, ModelFile] = {e.file_name: e for e in OFFICIAL_FILES if e.role in (GFPGAN, CODEFORMER)}
"""The face-restoration rows, by file name (``.url``, ``.sha256``, ``.role`` is the architecture), newest release first."""


def _check_version(version: str | None) -> None:
    if version not in VERSIONS:
        raise BadInputError(f"Unknown LatentSync version '{version}'; choose one of {', '.join(VERSIONS)}.")


def _name(name: str) -> str:
    """A listed file name with ``/`` separators (ComfyUI on Windows lists ``a\\b``)."""
    return name.replace("\\", "/")


def official_files(role: str, version: str | None = None) -> tuple[ModelFile, ...]:
    """All table entries for ``role`` and ``version`` (the diffusers VAE has two files)."""
    if role in (UNET, WHISPER):
        _check_version(version)
    found = tuple(e for e in OFFICIAL_FILES if e.role == role and e.version == version)
    if not found:
        raise KeyError(f"no official file for role {role!r}, version {version!r}")
    return found


def official_file(role: str, version: str | None = None) -> ModelFile:
    """The (first) table entry for ``role`` and ``version``, e.g. ``official_file("unet", "1.6")``."""
    return official_files(role, version)[0]


def find_official(folder: str, relative_path: str) -> ModelFile | None:
    """The table entry ComfyUI lists as ``relative_path`` in model folder ``folder``, if any."""
    wanted = _name(relative_path)
    return next((e for e in OFFICIAL_FILES if e.folder == folder and e.relative_path == wanted), None)


def whisper_beside(unet_relative_path: str) -> str:
    """Relative path of the Whisper file that sits next to a UNet: ``<unet folder>/whisper/tiny.pt``."""
    folder = os.path.dirname(_name(unet_relative_path))
    return f"{folder}/whisper/tiny.pt" if folder else "whisper/tiny.pt"


def sha256_file(path: str, chunk: int = 1 << 24) -> str:
    """Lower-case hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


Downloader = Callable[[str, str, str], str]
"""``downloader(repo_id, repo_path, local_dir) -> path``: fetch one file of a repository into
``local_dir`` (keeping ``repo_path``'s sub-folders) and return where it landed. Raises
``OSError`` when the download fails."""


def check_reachable(url: str, timeout: float = 5.0) -> None:
    """Raise ``OSError`` at once when the server of ``url`` (or the proxy the environment names for it) refuses a connection.

    huggingface_hub retries a refused connection five times over about 25 s, printing a line each
    time; one connection attempt first makes "no network" a one-line error without them.
    """
    parts = urllib.parse.urlsplit(url)
    target = parts
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        target = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        socket.create_connection((target.hostname, port), timeout=timeout).close()
    except OSError as exc:
        raise OSError(f"cannot reach {target.hostname}:{port} ({exc.strerror or exc}); check the network") from exc


def hf_hub_downloader(repo_id: str, repo_path: str, local_dir: str) -> str:
    """:data:`Downloader` on ``huggingface_hub.hf_hub_download`` (console progress bar, resumable).

    Honours ``HF_ENDPOINT`` (read when called) and ``HF_HUB_OFFLINE``; any failure is
    re-raised as ``OSError`` with huggingface_hub's first message line.
    """
    from huggingface_hub import constants, hf_hub_download

    if constants.HF_HUB_OFFLINE:
        raise OSError("offline mode is on (HF_HUB_OFFLINE is set)")
    endpoint = os.environ.get("HF_ENDPOINT") or None
    check_reachable(endpoint or constants.ENDPOINT)
    try:
        return hf_hub_download(repo_id, repo_path, local_dir=local_dir, endpoint=endpoint)
    except Exception as err:  # network boundary: every failure means "not downloaded"
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise OSError(f"{type(err).__name__}: {first_line}") from err


@dataclass(frozen=True)
class Wanted:
    """A file to make available: its table entry and the model-folder path it goes to."""

    entry: ModelFile
    folder_root: str

    @property
    def path(self) -> str:
        return self.entry.local_path(self.folder_root)


def ensure_files(
    wanted: Sequence[Wanted],
    download: bool,
    downloader: Downloader = hf_hub_downloader,
) -> list[str]:
    """Local paths of ``wanted``, downloading the missing ones first when ``download`` is set.

    Hugging Face files go through ``downloader``, release files through
    :func:`~latentsync_core.files.downloads.download_file`; ``HF_HUB_OFFLINE`` turns every
    download off. One error names every file still missing. After a failed download the
    remaining ones are not tried (without a connection each try waits through the retries).

    Raises:
        MissingModelError: for the first missing file; its message also names the others
            (file, folder, URL) and why they are missing (download off or failed).
    """
    missing: list[tuple[Wanted, str]] = []
    failed = False
    if download and offline_mode():
        download, off = False, f"offline mode is on ({OFFLINE_ENV} is set)"
    else:
        off = "automatic download is off"
    for item in wanted:
        if os.path.isfile(item.path):
            continue
        if not download or failed:
            missing.append((item, off if not download else "not tried"))
            continue
        try:
            _download_one(item, downloader)
        except OSError as err:
            reason = str(err) if str(err).startswith("checksum mismatch") else f"download failed: {err}"
            missing.append((item, reason))
            failed = True
    if missing:
        raise _missing_error(missing)
    return [item.path for item in wanted]


def _missing_error(missing: Sequence[tuple[Wanted, str]]) -> MissingModelError:
    (first, reason), rest = missing[0], missing[1:]
    if rest:
        others = "; ".join(
            f"'{w.entry.file_name}' in '{os.path.dirname(w.path)}' from {w.entry.url}" for w, _ in rest
        )
        reason = f"{reason}. Also missing: {others}"
    return MissingModelError(first.entry.file_name, os.path.dirname(first.path), first.entry.url, reason)


def _download_one(item: Wanted, downloader: Downloader) -> None:
    """Download ``item``, verify it, move it into place.

    A release file streams to a hidden ``.part`` file beside its destination. A Hub file is
    staged in its own folder (``<destination root>/.download/<file>``), removed once the file
    is in place or fails its checksum; after an interrupted download it keeps the partial
    file, which huggingface_hub resumes on the next try.
    """
    entry = item.entry
    if entry.release is not None:
        download_file(entry.url, item.path, entry.sha256)
        return
    repo_root = os.path.join(item.folder_root, *entry.subdir.split("/")) if entry.subdir else item.folder_root
    staging_root = os.path.join(repo_root, STAGING_DIR)
    staging = os.path.join(staging_root, entry.repo_path.replace("/", "__"))
    os.makedirs(staging, exist_ok=True)
    try:
        staged = downloader(entry.repo_id, entry.repo_path, staging)
    except OSError:
        if not _has_partial_download(staging):
            _remove_staging(staging, staging_root)
        raise
    try:
        if entry.sha256 is not None:
            digest = sha256_file(staged)
            if digest != entry.sha256.lower():
                raise OSError(f"checksum mismatch: expected sha256 {entry.sha256.lower()}, got {digest}; the download was deleted")
        os.makedirs(os.path.dirname(item.path), exist_ok=True)
        give_new_file_mode(staged)
        os.replace(staged, item.path)
    finally:
        _remove_staging(staging, staging_root)


def _has_partial_download(staging: str) -> bool:
    """Whether huggingface_hub left a resumable ``*.incomplete`` file under ``staging``."""
    return any(f.endswith(".incomplete") and os.path.getsize(os.path.join(d, f)) > 0
               for d, _, files in os.walk(staging) for f in files)


def _remove_staging(staging: str, staging_root: str) -> None:
    shutil.rmtree(staging, ignore_errors=True)
    try:
        os.rmdir(staging_root)
    except OSError:
        pass  # other downloads are staged there


def wanted_files(
    entries: Iterable[ModelFile],
    folder_roots: Mapping[str, str],
) -> list[Wanted]:
    """Pair table entries with the root of their model folder (``{"latentsync": ..., "vae": ...}``)."""
    return [Wanted(e, folder_roots[e.folder]) for e in entries]


class ModelFolders(Protocol):
    """Where a front-end keeps model files, by ComfyUI model-folder type (``latentsync``, ``vae``, ...).

    The command line: one models folder in ComfyUI's layout
    (:class:`latentsync_core.files.run_files.ModelsFolder`); ComfyUI: ``folder_paths``.
    """

    download: bool
    """Whether missing official files may be fetched (``HF_HUB_OFFLINE`` turns it off regardless)."""

    def folder_root(self, folder: str) -> str:
        """Where files of model folder ``folder`` go (ComfyUI: its first path); ``folder`` may name a
        sub-folder, ``/``-separated (``insightface/models/buffalo_l``)."""
        ...

    def locate(self, folder: str, name: str) -> str | None:
        """Absolute path of ``name`` (``/``-separated) in model folder ``folder``, None if absent."""
        ...


@dataclass(frozen=True)
class ModelRequest:
    """What to load, by the names ComfyUI lists.

    Attributes:
        unet: UNet file in the ``latentsync`` folder, e.g. ``LatentSync-1.5/latentsync_unet.pt``.
        version: "1.5", "1.6", or None to read it from the UNet's folder name.
        whisper: Whisper file in the ``latentsync`` folder; None: the one next to the UNet
            (``<unet folder>/whisper/tiny.pt``), else any official one.
        vae: VAE file in the ``vae`` folder; None when the caller supplies VAE weights.
    """

    unet: str
    version: str | None = None
    whisper: str | None = None
    vae: str | None = None


@dataclass(frozen=True)
class ModelPaths:
    """Absolute paths of the files to load (``vae`` None when the caller supplies VAE weights)."""

    unet: str
    whisper: str
    vae: str | None


class ModelFileFinder:
    """The one model-file resolver: finds files in ``folders``, queues the missing official ones, fetches them in one go.

    Every front-end goes through it: the command line's run (:func:`latentsync_core.files.run_files.run_files`),
    the loader nodes (:func:`resolve_paths`, the Whisper and face-restore loaders). Paths it returns for queued
    files exist only after :meth:`fetch`, which raises one :class:`~latentsync_core.errors.MissingModelError`
    naming every file still missing.
    """

    def __init__(self, folders: ModelFolders, downloader: Downloader = hf_hub_downloader) -> None:
        self.folders = folders
        self.downloader = downloader
        self.queued: list[Wanted] = []

    def present(self, entry: ModelFile) -> str | None:
        """Path of official ``entry`` where it is already on disk, else None."""
        return self.folders.locate(entry.folder, entry.relative_path)

    def official(self, entry: ModelFile) -> str:
        """Path of official ``entry``: on disk, or queued for :meth:`fetch` at its place in the layout."""
        found = self.present(entry)
        if found is not None:
            return found
        entries = official_files(entry.role) if entry.role == VAE_DIFFUSERS else (entry,)
        root = self.folders.folder_root(entry.folder)
        self.queued.extend(Wanted(e, root) for e in entries)
        return entry.local_path(root)

    def named(self, folder: str, name: str) -> str | None:
        """Path of listed ``name`` in ``folder``: on disk, or queued when it is an official file; else None."""
        found = self.folders.locate(folder, _name(name))
        if found is not None:
            return found
        entry = find_official(folder, name)
        return None if entry is None else self.official(entry)

    def first_of(self, entries: Sequence[ModelFile]) -> str:
        """The first of ``entries`` on disk, else the first one queued (e.g. GFPGAN v1.4 before v1.3)."""
        return next((p for p in map(self.present, entries) if p is not None), None) or self.official(entries[0])

    def whisper(self, version: str, unet_name: str | None = None) -> str:
        """The Whisper file for a UNet of ``version``: the one beside ``unet_name`` (``<folder>/whisper/tiny.pt``),
        else any official copy on disk (Whisper tiny is the same file for every version), else the version's queued."""
        beside = self.folders.locate(LATENTSYNC_FOLDER, whisper_beside(unet_name)) if unet_name is not None else None
        copies = (official_file(WHISPER, v) for v in (version, *VERSIONS))
        return beside or next((p for p in map(self.present, copies) if p is not None), None) or self.official(
            official_file(WHISPER, version))

    def missing(self, folder: str, name: str, url: str) -> MissingModelError:
        """The error for a file that is neither on disk nor official (so it cannot be downloaded)."""
        path = os.path.join(self.folders.folder_root(folder), *_name(name).split("/"))
        return MissingModelError(os.path.basename(path), os.path.dirname(path), url,
                                 "it is not an official file, so it cannot be downloaded")

    def fetch(self) -> None:
        """Download the queued files when ``folders.download`` allows (see :func:`ensure_files`)."""
        ensure_files(self.queued, self.folders.download, self.downloader)
        self.queued = []


def resolve_paths(request: ModelRequest, folders: ModelFolders, downloader: Downloader = hf_hub_downloader) -> ModelPaths:
    """Absolute paths of the requested files in ``folders``, downloading missing official ones when allowed.

    Raises:
        MissingModelError: naming every file still missing, its folder and URL.
        BadInputError: an unknown version, or one the official UNet's folder contradicts.
    """
    if request.version is not None:
        _check_version(request.version)
    finder = ModelFileFinder(folders, downloader)
    unet_name = _name(request.unet)
    listed = find_official(LATENTSYNC_FOLDER, unet_name)
    version_hint = request.version or (listed.version if listed else VERSIONS[-1])
    if listed is not None and request.version not in (None, listed.version):
        raise BadInputError(
            f"'{unet_name}' is the LatentSync {listed.version} UNet but version {request.version} was chosen. "
            f"Choose {listed.version} (or auto), or pick the LatentSync-{request.version} file."
        )
    unet = finder.named(LATENTSYNC_FOLDER, unet_name)
    if unet is None:
        raise finder.missing(LATENTSYNC_FOLDER, unet_name, official_file(UNET, version_hint).url)
    if request.whisper is not None:
        whisper = finder.named(LATENTSYNC_FOLDER, request.whisper)
        if whisper is None:
            raise finder.missing(LATENTSYNC_FOLDER, request.whisper, official_file(WHISPER, version_hint).url)
    else:
        whisper = finder.whisper(version_hint, unet_name)
    vae = None
    if request.vae is not None:
        vae = finder.named(VAE_FOLDER, request.vae)
        if vae is None:
            raise finder.missing(VAE_FOLDER, request.vae, official_file(VAE).url)
    finder.fetch()
    return ModelPaths(unet=unet, whisper=whisper, vae=vae)


WEIGHT_EXTENSIONS = (".pt", ".pth", ".ckpt", ".bin", ".safetensors")


def _visible_weights(listed: Iterable[str]) -> list[str]:
    """Weight files among listed names, skipping hidden folders (download staging, hub caches)."""
    names = (_name(n) for n in listed)
    return [n for n in names if n.lower().endswith(WEIGHT_EXTENSIONS) and not any(p.startswith(".") for p in n.split("/"))]


def _official_first(role: str, found: Iterable[str]) -> list[str]:
    official = [e.relative_path for e in OFFICIAL_FILES if e.role == role]
    return official + sorted(set(found) - set(official))


def unet_choices(listed: Iterable[str]) -> list[str]:
    """UNet names to offer from the ``latentsync`` folder's listing: the official ones (present
    or downloadable) first, then other weight files outside ``whisper`` folders."""
    return _official_first(UNET, (n for n in _visible_weights(listed) if "whisper" not in n.split("/")[:-1]))


def whisper_choices(listed: Iterable[str]) -> list[str]:
    """Whisper names to offer: the official ones first, then weight files inside ``whisper`` folders."""
    return _official_first(WHISPER, (n for n in _visible_weights(listed) if "whisper" in n.split("/")[:-1]))


def vae_choices(listed: Iterable[str]) -> list[str]:
    """VAE names to offer from the ``vae`` folder's listing: the official SD VAE files first."""
    official = [e.relative_path for e in OFFICIAL_FILES if e.role in (VAE, VAE_DIFFUSERS) and e.relative_path.endswith(".safetensors")]
    return official + sorted(set(_visible_weights(listed)) - set(official))
