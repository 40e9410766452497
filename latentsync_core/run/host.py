"""What differs between the command line and ComfyUI (:class:`Host`), and the decisions both make through it.

A host answers where the model files are (per ComfyUI model folder) and whether missing official ones
may be downloaded (:class:`~latentsync_core.files.model_files.ModelFolders`), the compute device and its
CUDA compute capability, where idle models are kept, which dtype it would pick for each network, how
much memory is free, and where a note for the user goes. :class:`FolderHost` is the command line's (a
models folder in ComfyUI's layout, ``--offline``, ``--device``); ``nodes/host.py`` holds ComfyUI's.

Both front-ends decide through a host: the dtype of every network (:func:`model_dtype`, the policy of
:mod:`latentsync_core.lipsync.dtypes` fed with the host's capability, so it is testable without a GPU),
the model files (:class:`~latentsync_core.files.model_files.ModelFileFinder` on the host's folders),
the landmark backend (:func:`landmark_backend`) and memory sizing (:func:`frames_that_fit`).
"""
from __future__ import annotations

import os
import sys
import weakref
from dataclasses import dataclass, field
from typing import Callable, Generic, Hashable, Protocol, TypeVar

import torch

from ..face.landmarks import LandmarkBackend, get_backend
from ..files.model_files import UNET, VAE, WHISPER, ModelFolders
from ..files.run_files import INSIGHTFACE_PACK, ModelsFolder
from ..lipsync.dtypes import DTYPES, HALF_OK, NO_FP16, Capability, cuda_capability, resolve_dtype
from ..restorers.loading import default_dtype

RESTORER = "restorer"
"""The face restorers (GFPGAN, CodeFormer), beside the model-file roles UNET, VAE and WHISPER: the networks a host
picks a dtype for."""
ROLES = {UNET: HALF_OK, WHISPER: HALF_OK, VAE: NO_FP16, RESTORER: NO_FP16}
"""How each network takes float16: the UNet and Whisper run in it; the SD VAE and the restorers overflow."""
NAMES = {UNET: "the LatentSync UNet", VAE: "the SD VAE", WHISPER: "Whisper", RESTORER: "the face restorer"}
"""How a note about a network's dtype names it."""
AUTO = "auto"
"""A dtype choice that leaves it to the host."""
MEDIAPIPE_FOLDER = "mediapipe"
"""Model folder of MediaPipe's ``face_landmarker.task`` (Tasks releases of mediapipe only)."""


class Host(ModelFolders, Protocol):
    """What differs between the command line and ComfyUI (model folders: see :class:`ModelFolders`)."""

    @property
    def device(self) -> torch.device:
        """Where the networks compute."""
        ...

    def compute_capability(self, device: torch.device) -> Capability | None:
        """The CUDA compute capability of ``device``; None for a device that is not CUDA."""
        ...

    def offload_device(self, model: str) -> torch.device:
        """Where network ``model`` (:data:`UNET`, :data:`VAE`, ...) is kept while it does not compute."""
        ...

    def preferred_dtype(self, model: str) -> torch.dtype:
        """The dtype the host picks for network ``model`` when the user leaves it to the host."""
        ...

    def free_memory(self, device: torch.device) -> int:
        """Bytes free on ``device`` for the next computation."""
        ...

    def note(self, message: str) -> None:
        """Tell the user ``message`` (a dtype that differs from the one asked for), once per message."""
        ...


def model_dtype(host: Host, model: str, requested: torch.dtype | str = AUTO, device: torch.device | None = None) -> torch.dtype:
    """The dtype network ``model`` runs in on ``device`` (default: the host's), by the one dtype policy.

    ``requested``: a dtype, a name of :data:`~latentsync_core.lipsync.dtypes.DTYPES`, or :data:`AUTO` for the
    host's preference. A dtype that differs from the request is said through :meth:`Host.note`.
    """
    if isinstance(requested, str):
        requested = host.preferred_dtype(model) if requested == AUTO else DTYPES[requested]
    device = host.device if device is None else device
    choice = resolve_dtype(requested, device, ROLES[model], NAMES[model], host.compute_capability(device))
    if choice.note:
        host.note(choice.note)
    return choice.dtype


@dataclass(frozen=True)
class LipSyncDtypes:
    """The dtypes of the lip-sync networks."""

    unet: torch.dtype
    vae: torch.dtype
    whisper: torch.dtype


def lipsync_dtypes(host: Host, unet: torch.dtype | str = AUTO) -> LipSyncDtypes:
    """The UNet in ``unet`` (the user's choice), the VAE and Whisper in the host's choice, all by the policy."""
    return LipSyncDtypes(model_dtype(host, UNET, unet), model_dtype(host, VAE), model_dtype(host, WHISPER))


def landmark_backend(host: Host, name: str, download: bool = False) -> LandmarkBackend:
    """Landmark backend ``name`` (see :func:`latentsync_core.face.landmarks.get_backend`) on the host's files and device.

    ``insightface`` reads ``det_10g.onnx`` and ``2d106det.onnx`` from ``insightface/models/buffalo_l``
    (downloading buffalo_l there when ``download``); ``mediapipe`` (Tasks releases only) reads
    ``face_landmarker.task`` from the ``mediapipe`` folder, downloading it there on first use.
    """
    device = str(host.device)
    if name == "insightface":
        return get_backend(name, model_dir=host.folder_root(INSIGHTFACE_PACK), download=download, device=device)
    if name == "face_alignment":
        return get_backend(name, device=device)
    return get_backend(name, model_dir=host.folder_root(MEDIAPIPE_FOLDER))


def frames_that_fit(host: Host, device: torch.device, bytes_per_frame: int) -> int:
    """How many frames of ``bytes_per_frame`` each the free memory of ``device`` holds (at least 1)."""
    return max(1, int(host.free_memory(device) // max(1, bytes_per_frame)))


Copy = TypeVar("Copy")


class RehostedCopies(Generic[Copy]):
    """One copy of a model per source object (kept while the source lives), rebuilt when its ``key`` changes.

    ComfyUI's VAE is re-hosted as the diffusers module LatentSync's encode needs; the copy is made once
    per VAE object and made again when the device or dtype it should have changes.
    """

    def __init__(self) -> None:
        self._copies: weakref.WeakKeyDictionary[object, tuple[Hashable, Copy]] = weakref.WeakKeyDictionary()

    def get(self, source: object, key: Hashable, build: Callable[[], Copy]) -> Copy:
        """The copy of ``source`` made for ``key``; ``build()`` makes it when there is none for that key."""
        kept = self._copies.get(source)
        if kept is None or kept[0] != key:
            kept = self._copies[source] = (key, build())
        return kept[1]


@dataclass(frozen=True)
class FolderHost(ModelsFolder):
    """The command line's host: a models folder in ComfyUI's layout (``--models-dir``), downloads unless
    ``--offline``, one device (``--device``) that also holds idle models, notes on stderr unless ``quiet``.

    Its dtypes: the UNet and Whisper float16 on CUDA, float32 elsewhere; the SD VAE and the restorers
    bfloat16 on a card that runs it natively, else float32 (both overflow in float16).
    """

    device: torch.device = torch.device("cpu")
    quiet: bool = False
    _said: set[str] = field(default_factory=set, compare=False, repr=False)

    def compute_capability(self, device: torch.device) -> Capability | None:
        return cuda_capability(device)

    def offload_device(self, model: str) -> torch.device:
        return self.device

    def preferred_dtype(self, model: str) -> torch.dtype:
        if model in (VAE, RESTORER):
            return default_dtype(self.device, self.compute_capability(self.device))
        return torch.float16 if self.device.type == "cuda" else torch.float32

    def free_memory(self, device: torch.device) -> int:
        if device.type == "cuda":
            return torch.cuda.mem_get_info(device)[0]
        try:
            import psutil  # ComfyUI's requirements have it; the command line may run without
        except ImportError:
            return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return psutil.virtual_memory().available

    def note(self, message: str) -> None:
        if not self.quiet and message not in self._said:
            self._said.add(message)
            print(f"latentsync: {message}", file=sys.stderr)
