"""The model files one command-line run needs, found in (or downloaded into) a models folder.

The models folder has ComfyUI's layout (a ComfyUI ``models`` folder works as is)::

    <models>/latentsync/LatentSync-1.5/latentsync_unet.pt, .../whisper/tiny.pt   (and 1.6)
    <models>/vae/vae-ft-mse-840000-ema-pruned.safetensors
    <models>/facerestore_models/GFPGANv1.4.pth, codeformer.pth
    <models>/upscale_models/RealESRGAN_x4plus.pth

:func:`run_files` lists what a run of a given version / restorer / background upscaler
needs, takes what is there, downloads the rest in one go (all entries come from
:data:`~latentsync_core.files.model_files.OFFICIAL_FILES`) and otherwise fails with
one error that names every missing file, its folder and its URL.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import BadInputError
from .model_files import (
    CODEFORMER,
    FACERESTORE_FOLDER,
    GFPGAN,
    LATENTSYNC_FOLDER,
    UNET,
    UPSCALE_FOLDER,
    UPSCALER,
    VAE,
    VAE_DIFFUSERS,
    VAE_FOLDER,
    VERSIONS,
    WHISPER,
    Downloader,
    ModelFile,
    Wanted,
    ensure_files,
    hf_hub_downloader,
    official_file,
    official_files,
)

DEFAULT_MODELS_DIR = "models"
SUPERRES_ARCHS: dict[str, tuple[str, ...]] = {
    GFPGAN: (GFPGAN,),
    CODEFORMER: (CODEFORMER,),
    "both": (GFPGAN, CODEFORMER),
    "none": (),
}
"""``--superres`` choice -> restorer architectures, in the order they are applied."""
SUPERRES_CHOICES = tuple(SUPERRES_ARCHS)


def folder_roots(models_dir: str | None) -> dict[str, str]:
    """Absolute path of each model folder under ``models_dir`` (default ``./models``).

    The restorer folder is ``<models_dir>/facerestore_models``, except when that does not
    exist and ``models_dir`` itself holds an official restorer file (a plain folder of
    restorer weights, as ``enhance`` has always accepted).
    """
    root = os.path.abspath(models_dir or DEFAULT_MODELS_DIR)
    roots = {name: os.path.join(root, name) for name in (LATENTSYNC_FOLDER, VAE_FOLDER, FACERESTORE_FOLDER, UPSCALE_FOLDER)}
    restorers = (e.file_name for e in (*official_files(GFPGAN), *official_files(CODEFORMER)))
    if not os.path.isdir(roots[FACERESTORE_FOLDER]) and any(os.path.isfile(os.path.join(root, f)) for f in restorers):
        roots[FACERESTORE_FOLDER] = root
    return roots


@dataclass(frozen=True)
class RunFiles:
    """Absolute paths of the files a run loads (None / empty where the run needs none).

    Attributes:
        unet, whisper, vae: the LatentSync UNet and Whisper of the chosen version, the SD VAE.
        restorers: GFPGAN / CodeFormer files in the order they are applied.
        upscaler: the background upscaler's file.
    """

    unet: str | None = None
    whisper: str | None = None
    vae: str | None = None
    restorers: tuple[str, ...] = ()
    upscaler: str | None = None


def _present(entry: ModelFile, roots: dict[str, str]) -> str | None:
    path = entry.local_path(roots[entry.folder])
    return path if os.path.isfile(path) else None


def _first_present(entries: tuple[ModelFile, ...], roots: dict[str, str]) -> ModelFile | None:
    return next((e for e in entries if _present(e, roots)), None)


def _vae_entries(roots: dict[str, str]) -> tuple[ModelFile, ...]:
    """The SD VAE files to use: the single file ComfyUI users have, else a complete diffusers copy."""
    single = official_file(VAE)
    diffusers = official_files(VAE_DIFFUSERS)
    if not _present(single, roots) and all(_present(e, roots) for e in diffusers):
        return diffusers
    return (single,)


def _whisper_entry(version: str, roots: dict[str, str]) -> ModelFile:
    """The version's Whisper file, or another version's copy already on disk (the file is the same)."""
    own = official_file(WHISPER, version)
    others = tuple(official_file(WHISPER, v) for v in VERSIONS if v != version)
    return own if _present(own, roots) else (_first_present(others, roots) or own)


def _upscaler(name: str, roots: dict[str, str]) -> str | ModelFile:
    """A present upscaler file (a path, or a name in the upscale folder), else its official entry to fetch."""
    for path in (name, os.path.join(roots[UPSCALE_FOLDER], name)):
        if os.path.isfile(path):
            return os.path.abspath(path)
    entry = next((e for e in official_files(UPSCALER) if e.file_name == os.path.basename(name)), None)
    if entry is None:
        known = ", ".join(e.file_name for e in official_files(UPSCALER))
        raise BadInputError(
            f"--bg_upscale '{name}' is not a file (nor in {roots[UPSCALE_FOLDER]}). Give the path of an upscaler "
            f"model (RealESRGAN, ESRGAN, any spandrel upscaler), or {known} to download it."
        )
    return entry


def run_files(
    models_dir: str | None,
    version: str | None,
    superres: str,
    bg_upscale: str | None = None,
    download: bool = True,
    downloader: Downloader = hf_hub_downloader,
) -> RunFiles:
    """Paths of the files a run needs, downloading the missing official ones when ``download``.

    Args:
        models_dir: the models folder (see :func:`folder_roots`).
        version: LatentSync "1.5"/"1.6" for a lip-sync run, None for a run without
            lip-sync (``enhance``).
        superres: a :data:`SUPERRES_CHOICES` entry.
        bg_upscale: an upscaler file (path, or name in ``upscale_models``), None for none.
        download: fetch missing official files (``HF_HUB_OFFLINE`` also turns it off).
        downloader: how Hugging Face files are fetched (tests pass their own).

    Raises:
        MissingModelError: naming every file still missing, its folder and its URL.
        BadInputError: an unknown version or superres choice, or an unknown upscaler name.
    """
    if version is not None and version not in VERSIONS:
        raise BadInputError(f"Unknown LatentSync version '{version}'; choose one of {', '.join(VERSIONS)}.")
    if superres not in SUPERRES_ARCHS:
        raise BadInputError(f"Unknown --superres '{superres}'; choose one of {', '.join(SUPERRES_CHOICES)}.")
    roots = folder_roots(models_dir)
    wanted: list[ModelFile] = []
    if version is not None:
        lipsync = [official_file(UNET, version), _whisper_entry(version, roots)]
        vae = _vae_entries(roots)
        wanted += [*lipsync, *vae]
    restorers = []
    for arch in SUPERRES_ARCHS[superres]:
        choices = official_files(arch)
        restorers.append(_first_present(choices, roots) or choices[0])
    wanted += restorers
    upscaler = _upscaler(bg_upscale, roots) if bg_upscale else None
    if isinstance(upscaler, ModelFile):
        wanted.append(upscaler)
    ensure_files([Wanted(e, roots[e.folder]) for e in wanted], download, downloader)

    def path(entry: ModelFile) -> str:
        return entry.local_path(roots[entry.folder])

    return RunFiles(
        unet=path(lipsync[0]) if version is not None else None,
        whisper=path(lipsync[1]) if version is not None else None,
        vae=path(vae[0]) if version is not None else None,
        restorers=tuple(path(e) for e in restorers),
        upscaler=path(upscaler) if isinstance(upscaler, ModelFile) else upscaler,
    )
