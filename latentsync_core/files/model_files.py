"""Where LatentSync's model files come from and where they live under ComfyUI's ``models`` folder.

One table, :data:`OFFICIAL_FILES`, lists every file the pack can fetch: its Hugging Face
repository and path there, the ComfyUI model folder it belongs in, and the sub-folder
it goes to. The layout on disk (relative to ComfyUI's ``models``)::

    latentsync/LatentSync-1.5/latentsync_unet.pt
    latentsync/LatentSync-1.5/whisper/tiny.pt
    latentsync/LatentSync-1.6/latentsync_unet.pt
    latentsync/LatentSync-1.6/whisper/tiny.pt
    vae/vae-ft-mse-840000-ema-pruned.safetensors            (single file, what ComfyUI users have)
    vae/sd-vae-ft-mse/diffusion_pytorch_model.safetensors   (diffusers layout, with config.json)

The sub-folder names the LatentSync version (1.5 and 1.6 files have identical layouts);
:mod:`latentsync_core.checkpoints` reads the version from it.

:func:`resolve_paths` turns the names ComfyUI lists (a path relative to a model folder)
into absolute paths; :func:`ensure_files` makes a set of table files available, downloading
the missing ones with ``huggingface_hub.hf_hub_download`` when asked. A download lands in a hidden
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
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

from ..errors import BadInputError, MissingModelError

VERSIONS = ("1.5", "1.6")
LATENTSYNC_FOLDER = "latentsync"
"""ComfyUI model-folder type of the UNet and Whisper files (``models/latentsync``)."""
VAE_FOLDER = "vae"
"""ComfyUI model-folder type of the VAE (``models/vae``, shared with ComfyUI's Load VAE)."""
STAGING_DIR = ".download"
"""Hidden folder, inside a file's destination folder, that downloads are staged in."""
HF_URL = "https://huggingface.co"

UNET = "unet"
UNET_FILE_NAME = "latentsync_unet.pt"
WHISPER = "whisper"
VAE = "vae"
VAE_DIFFUSERS = "vae_diffusers"


@dataclass(frozen=True)
class ModelFile:
    """One downloadable model file.

    Attributes:
        role: what it is: ``unet``, ``whisper``, ``vae`` or ``vae_diffusers``.
        version: LatentSync version it belongs to ("1.5"/"1.6"), None for the VAE.
        repo_id: Hugging Face repository, e.g. ``ByteDance/LatentSync-1.6``.
        repo_path: ``/``-separated path inside the repository, e.g. ``whisper/tiny.pt``.
        folder: ComfyUI model-folder type it lives in (``latentsync`` or ``vae``).
        subdir: sub-folder of that folder the repository's files go to ("" for the top).
        sha256: lower-case hex digest when known; downloads are then verified.
        licence: licence of the weights, for the README and tooltips.
    """

    role: str
    version: str | None
    repo_id: str
    repo_path: str
    folder: str
    subdir: str
    sha256: str | None
    licence: str

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
        """Public download URL (``HF_ENDPOINT`` replaces huggingface.co when set)."""
        endpoint = os.environ.get("HF_ENDPOINT", HF_URL).rstrip("/")
        return f"{endpoint}/{self.repo_id}/resolve/main/{self.repo_path}"

    def local_path(self, folder_root: str) -> str:
        """Where the file lives under ``folder_root`` (a path of its ComfyUI model folder)."""
        return os.path.join(folder_root, *self.relative_path.split("/"))


_LATENTSYNC_LICENCE = "see the model card (LatentSync code: Apache-2.0)"
_WHISPER_LICENCE = "MIT (OpenAI Whisper)"
_VAE_LICENCE = "MIT (stabilityai model card)"


def _latentsync_files(version: str) -> tuple[ModelFile, ...]:
    repo = f"ByteDance/LatentSync-{version}"
    subdir = f"LatentSync-{version}"
    return (
        ModelFile(UNET, version, repo, UNET_FILE_NAME, LATENTSYNC_FOLDER, subdir, None, _LATENTSYNC_LICENCE),
        ModelFile(WHISPER, version, repo, "whisper/tiny.pt", LATENTSYNC_FOLDER, subdir, None, _WHISPER_LICENCE),
    )


OFFICIAL_FILES: tuple[ModelFile, ...] = (
    *_latentsync_files("1.5"),
    *_latentsync_files("1.6"),
    ModelFile(VAE, None, "stabilityai/sd-vae-ft-mse-original", "vae-ft-mse-840000-ema-pruned.safetensors",
              VAE_FOLDER, "", None, _VAE_LICENCE),
    ModelFile(VAE_DIFFUSERS, None, "stabilityai/sd-vae-ft-mse", "diffusion_pytorch_model.safetensors",
              VAE_FOLDER, "sd-vae-ft-mse", None, _VAE_LICENCE),
    ModelFile(VAE_DIFFUSERS, None, "stabilityai/sd-vae-ft-mse", "config.json",
              VAE_FOLDER, "sd-vae-ft-mse", None, _VAE_LICENCE),
)
"""Every file the pack can download. sha256 stays None until taken from the released files."""


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


def hf_hub_downloader(repo_id: str, repo_path: str, local_dir: str) -> str:
    """:data:`Downloader` on ``huggingface_hub.hf_hub_download`` (console progress bar, resumable).

    Honours ``HF_ENDPOINT`` (read when called) and ``HF_HUB_OFFLINE``; any failure is
    re-raised as ``OSError`` with huggingface_hub's first message line.
    """
    from huggingface_hub import constants, hf_hub_download

    if constants.HF_HUB_OFFLINE:
        raise OSError("offline mode is on (HF_HUB_OFFLINE is set)")
    endpoint = os.environ.get("HF_ENDPOINT") or None
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

    One error names every file still missing. After a failed download the remaining ones
    are not tried (without a connection each try waits through huggingface_hub's retries).

    Raises:
        MissingModelError: for the first missing file; its message also names the others
            (file, folder, URL) and why they are missing (download off or failed).
    """
    missing: list[tuple[Wanted, str]] = []
    failed = False
    for item in wanted:
        if os.path.isfile(item.path):
            continue
        if not download or failed:
            missing.append((item, "automatic download is off" if not download else "not tried"))
            continue
        try:
            _download_one(item, downloader)
        except OSError as err:
            missing.append((item, f"download failed: {err}"))
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
    """Download ``item`` into its own staging folder, verify it, move it into place.

    The staging folder (``<destination root>/.download/<file>``) is removed once the file is
    in place or fails its checksum; after an interrupted download it keeps the partial file,
    which huggingface_hub resumes on the next try.
    """
    entry = item.entry
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
                raise OSError(f"checksum mismatch: got sha256 {digest}, expected {entry.sha256.lower()}; the download was deleted")
        os.makedirs(os.path.dirname(item.path), exist_ok=True)
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


Locate = Callable[[str, str], "str | None"]
"""``locate(folder, name)``: absolute path of ``name`` in model folder ``folder``, None if absent
(ComfyUI: ``folder_paths.get_full_path``)."""


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


def _unknown_missing(folder_root: str, name: str, url: str) -> MissingModelError:
    path = os.path.join(folder_root, *name.split("/"))
    return MissingModelError(os.path.basename(path), os.path.dirname(path), url, "it is not an official file, so it cannot be downloaded")


def resolve_paths(
    request: ModelRequest,
    locate: Locate,
    download_roots: Mapping[str, str],
    download: bool,
    downloader: Downloader = hf_hub_downloader,
) -> ModelPaths:
    """Absolute paths of the requested files, downloading missing official ones when ``download``.

    Args:
        request: the file names and version choice.
        locate: finds a listed file (see :data:`Locate`).
        download_roots: where downloads go per model folder, e.g. ``{"latentsync": ".../models/latentsync",
            "vae": ".../models/vae"}`` (ComfyUI: the folder's first path).
        download: fetch missing official files from Hugging Face.
        downloader: the download function (tests pass their own).

    Raises:
        MissingModelError: naming every file still missing, its folder and URL.
        BadInputError: an unknown version.
    """
    if request.version is not None:
        _check_version(request.version)
    fetch: list[Wanted] = []
    ls_root = download_roots[LATENTSYNC_FOLDER]

    def find(folder: str, name: str) -> str | None:
        """Path of ``name`` (present, or queued for download when official), else None."""
        path = locate(folder, name)
        if path is not None:
            return path
        entry = find_official(folder, name)
        if entry is None:
            return None
        entries = official_files(entry.role) if entry.role == VAE_DIFFUSERS else (entry,)
        fetch.extend(Wanted(e, download_roots[folder]) for e in entries)
        return entry.local_path(download_roots[folder])

    unet_name = _name(request.unet)
    listed = find_official(LATENTSYNC_FOLDER, unet_name)
    version_hint = request.version or (listed.version if listed else VERSIONS[-1])
    if listed is not None and request.version not in (None, listed.version):
        raise BadInputError(
            f"'{unet_name}' is the LatentSync {listed.version} UNet but version {request.version} was chosen. "
            f"Choose {listed.version} (or auto), or pick the LatentSync-{request.version} file."
        )
    unet = find(LATENTSYNC_FOLDER, unet_name)
    if unet is None:
        raise _unknown_missing(ls_root, unet_name, official_file(UNET, version_hint).url)

    if request.whisper is not None:
        whisper = find(LATENTSYNC_FOLDER, _name(request.whisper))
        if whisper is None:
            raise _unknown_missing(ls_root, _name(request.whisper), official_file(WHISPER, version_hint).url)
    else:
        whisper = locate(LATENTSYNC_FOLDER, whisper_beside(unet_name))
        if whisper is None:
            # The Whisper tiny file is the same for every version: take any official copy on disk.
            copies = (locate(LATENTSYNC_FOLDER, official_file(WHISPER, v).relative_path) for v in (version_hint, *VERSIONS))
            whisper = next((p for p in copies if p is not None), None)
        if whisper is None:
            whisper = find(LATENTSYNC_FOLDER, official_file(WHISPER, version_hint).relative_path)

    vae = None
    if request.vae is not None:
        vae = find(VAE_FOLDER, _name(request.vae))
        if vae is None:
            raise _unknown_missing(download_roots[VAE_FOLDER], _name(request.vae), official_file(VAE).url)

    ensure_files(fetch, download, downloader)
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
