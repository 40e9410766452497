"""Loading what a command-line run computes with, on a :class:`~latentsync_core.run.host.FolderHost`: the LatentSync
models, the face restorers, the background upscaler and the face aligner. ``lipsync``, ``enhance`` and ``batch``
load through these functions (``batch`` keeps what they return in its model pool)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..files.run_files import RunFiles
from .host import RESTORER, Host, LipSyncDtypes, model_dtype
from .lipsync_job import LipSyncModels

if TYPE_CHECKING:
    from ..face.aligner import FaceAligner
    from ..face.landmarks import LandmarkBackend
    from ..restorers import FaceRestorer
    from ..upscalers import FrameUpscaler


def load_lipsync_models(files: RunFiles, version: str, device: torch.device, dtypes: LipSyncDtypes) -> tuple[LipSyncModels, int]:
    """The LatentSync models of ``files`` on ``device`` in ``dtypes`` and the face resolution of their version."""
    from ..files.model_files import ModelPaths
    from ..lipsync.models import load_models
    from ..lipsync.vae import load_vae

    loaded = load_models(ModelPaths(files.unet, files.whisper, files.vae), version, device=device, dtype=dtypes.unet,
                         whisper_dtype=dtypes.whisper)
    vae = load_vae(files.vae, device=device, dtype=dtypes.vae)
    return LipSyncModels(loaded.unet, vae, loaded.whisper, device, dtypes.unet), loaded.config.resolution


def load_restorers(files: RunFiles, host: Host) -> list[FaceRestorer]:
    """The GFPGAN / CodeFormer networks of ``files``, in the order they are applied."""
    from ..restorers import load_face_restorer

    dtype = model_dtype(host, RESTORER)
    return [load_face_restorer(p, device=host.device, dtype=dtype) for p in files.restorers]


def load_background(files: RunFiles, device: torch.device) -> FrameUpscaler | None:
    """The ``--bg_upscale`` upscaler, the job's background step (None without one)."""
    if files.upscaler is None:
        return None
    from ..upscalers import load_upscaler

    return load_upscaler(files.upscaler, device=device, dtype=torch.float16 if device.type == "cuda" else torch.float32)


def face_aligner(backend: LandmarkBackend, resolution: int, landmark_cache: str | None, landmark_cache_max: float,
                 allow_stylised: bool) -> FaceAligner:
    """A :class:`FaceAligner` on ``backend`` with the landmark cache (``landmark_cache``: its folder, None for the
    default, ``off``; ``landmark_cache_max`` GB) and the human-face gate. The caller closes ``backend``."""
    from ..face.aligner import FaceAligner
    from ..face.human_gate import HumanFaceGate
    from ..face.landmark_cache import open_cache

    cache = open_cache(landmark_cache, max_bytes=int(landmark_cache_max * 1024**3))
    return FaceAligner(backend, resolution=resolution, cache=cache, human_gate=HumanFaceGate(allow_stylised=allow_stylised))
