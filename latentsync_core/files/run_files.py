"""The model files one command-line run needs, found in (or downloaded into) a models folder.

The models folder has ComfyUI's layout (a ComfyUI ``models`` folder works as is)::

    <models>/latentsync/LatentSync-1.5/latentsync_unet.pt, .../whisper/tiny.pt   (and 1.6)
    <models>/vae/vae-ft-mse-840000-ema-pruned.safetensors
    <models>/facerestore_models/GFPGANv1.4.pth, codeformer.pth
    <models>/upscale_models/RealESRGAN_x4plus.pth

:class:`ModelsFolder` is that folder as the resolver sees it; :func:`run_files` lists what
a run of a given version / restorer / background upscaler needs, takes what is there, downloads
the rest in one go through the one resolver (:class:`~latentsync_core.files.model_files.ModelFileFinder`;
all entries come from :data:`~latentsync_core.files.model_files.OFFICIAL_FILES`) and otherwise
fails with one error that names every missing file, its folder and its URL.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from ..errors import BadInputError
from .model_files import (
    CODEFORMER,
    FACERESTORE_FOLDER,
    GFPGAN,
    UNET,
    UPSCALE_FOLDER,
    UPSCALER,
    VAE,
    VAE_DIFFUSERS,
    VERSIONS,
    Downloader,
    ModelFileFinder,
    ModelFolders,
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


INSIGHTFACE_PACK = "insightface/models/buffalo_l"
"""Sub-folder of InsightFace's buffalo_l ONNX files (ComfyUI's layout)."""


@dataclass(frozen=True)
class ModelsFolder:
    """A models folder in ComfyUI's layout (default ``./models``): the command line's :class:`ModelFolders`.

    Two plain folders keep working as ``enhance`` has always accepted them: the restorer folder is
    ``<models_dir>/facerestore_models`` unless that does not exist and ``models_dir`` itself holds an
    official restorer file; InsightFace's files are read from ``insightface/models/buffalo_l`` when
    that exists, else from ``models_dir`` itself.
    """

    models_dir: str | None = None
    download: bool = True

    @property
    def root(self) -> str:
        return os.path.abspath(self.models_dir or DEFAULT_MODELS_DIR)

    def folder_root(self, folder: str) -> str:
        path = os.path.join(self.root, *folder.split("/"))
        if os.path.isdir(path):
            return path
        restorers = (e.file_name for e in (*official_files(GFPGAN), *official_files(CODEFORMER)))
        if folder == FACERESTORE_FOLDER and any(os.path.isfile(os.path.join(self.root, f)) for f in restorers):
            return self.root
        return self.root if folder == INSIGHTFACE_PACK else path

    def locate(self, folder: str, name: str) -> str | None:
        path = os.path.join(self.folder_root(folder), *name.split("/"))
        return path if os.path.isfile(path) else None


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


def _vae(finder: ModelFileFinder) -> str:
    """The SD VAE: the single file ComfyUI users have, else a complete diffusers copy, else the single file queued."""
    single, diffusers = official_file(VAE), official_files(VAE_DIFFUSERS)
    if not finder.present(single) and all(finder.present(e) for e in diffusers):
        return finder.official(diffusers[0])
    return finder.official(single)


def _upscaler(name: str, finder: ModelFileFinder) -> str:
    """A present upscaler file (a path, or a name in the upscale folder), else its official file, queued."""
    if os.path.isfile(name):
        return os.path.abspath(name)
    found = finder.folders.locate(UPSCALE_FOLDER, name)
    if found is not None:
        return found
    entry = next((e for e in official_files(UPSCALER) if e.file_name == os.path.basename(name)), None)
    if entry is None:
        known = ", ".join(e.file_name for e in official_files(UPSCALER))
        raise BadInputError(
            f"--bg_upscale '{name}' is not a file (nor in {finder.folders.folder_root(UPSCALE_FOLDER)}). Give the path "
            f"of an upscaler model (RealESRGAN, ESRGAN, any spandrel upscaler), or {known} to download it."
        )
    return finder.official(entry)


def run_files(
    folders: ModelFolders,
    version: str | None,
    superres: str,
    bg_upscale: str | None = None,
    downloader: Downloader = hf_hub_downloader,
) -> RunFiles:
    """Paths of the files a run needs, downloading the missing official ones when ``folders.download``.

    Args:
        folders: where the models are (the command line: a :class:`ModelsFolder`).
        version: LatentSync "1.5"/"1.6" for a lip-sync run, None for a run without
            lip-sync (``enhance``).
        superres: a :data:`SUPERRES_CHOICES` entry.
        bg_upscale: an upscaler file (path, or name in ``upscale_models``), None for none.
        downloader: how Hugging Face files are fetched (tests pass their own).

    Raises:
        MissingModelError: naming every file still missing, its folder and its URL.
        BadInputError: an unknown version or superres choice, or an unknown upscaler name.
    """
    if version is not None and version not in VERSIONS:
        raise BadInputError(f"Unknown LatentSync version '{version}'; choose one of {', '.join(VERSIONS)}.")
    if superres not in SUPERRES_ARCHS:
        raise BadInputError(f"Unknown --superres '{superres}'; choose one of {', '.join(SUPERRES_CHOICES)}.")
    finder = ModelFileFinder(folders, downloader)
    files = RunFiles()
    if version is not None:
        unet = official_file(UNET, version)
        files = RunFiles(finder.official(unet), finder.whisper(version, unet.relative_path), _vae(finder))
    restorers = tuple(finder.first_of(official_files(arch)) for arch in SUPERRES_ARCHS[superres])
    upscaler = _upscaler(bg_upscale, finder) if bg_upscale else None
    finder.fetch()
    return dataclasses.replace(files, restorers=restorers, upscaler=upscaler)
