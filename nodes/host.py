"""ComfyUI plumbing the nodes share: the pack's host on ComfyUI, its model folders, and ModelPatcher hosting.

- :class:`ComfyHost`: the :class:`~latentsync_core.run.host.Host` the nodes decide through (files from
  ``folder_paths``, device, offload devices, dtypes and free memory from ``comfy.model_management``;
  ``--fp16-unet`` / ``--bf16-unet`` / ``--fp8_*-unet`` reach the dtype policy through it, and a changed
  dtype is logged once).
- The model folders the pack adds to ComfyUI, and the landmark cache in ComfyUI's user folder.
- Hosting diffusers/transformers/spandrel models in ComfyUI's ``ModelPatcher`` and loading them whole;
  the LATENTSYNC_MODEL's attachments; loading the UNet and ComfyUI's VAE for sampling.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import comfy.model_management as mm
import folder_paths
import torch
from comfy.model_patcher import ModelPatcher

from ..latentsync_core.errors import BadInputError
from ..latentsync_core.face.landmark_cache import LandmarkCache, default_cache_dir
from ..latentsync_core.lipsync.dtypes import Capability, cuda_capability
from ..latentsync_core.lipsync.memory import sampler_activation_bytes
from ..latentsync_core.lipsync.vae import LATENT_CHANNELS, VAE_DOWNSCALE, SubBatchedVAE, vae_from_state_dict
from ..latentsync_core.files.model_files import UNET, VAE, WHISPER
from ..latentsync_core.run.host import RehostedCopies, frames_that_fit, model_dtype

log = logging.getLogger(__name__)

LATENTSYNC_FOLDER = "latentsync"
MODEL_FOLDERS = (LATENTSYNC_FOLDER, "facerestore_models", "insightface", "mediapipe", "syncnet")
"""``facerestore_models`` is the folder facerestore_cf and ReActor users already have."""
SD_VAE_DTYPES = [torch.bfloat16, torch.float32]
"""The dtypes ComfyUI's VAE chooses from for the SD 1.x VAE (``comfy.sd.VAE.working_dtypes``)."""
VERSION_ATTACHMENT = "latentsync_version"
"""``ModelPatcher`` attachment of a LATENTSYNC_MODEL: "1.5" or "1.6"."""
CONFIG_ATTACHMENT = "latentsync_config"
"""``ModelPatcher`` attachment of a LATENTSYNC_MODEL: its ``LatentSyncUNetConfig`` (``.resolution``: face size)."""

_said: set[str] = set()


def register_model_folders() -> None:
    """Add ``models/<name>`` for each of the pack's folders, keeping existing entries (never overwriting user paths)."""
    for name in MODEL_FOLDERS:
        folder_paths.add_model_folder_path(name, os.path.join(folder_paths.models_dir, name))


class ComfyHost:
    """The pack's host inside ComfyUI; ``download``: the node's download switch (off where it has none)."""

    def __init__(self, download: bool = False) -> None:
        self.download = download

    @property
    def device(self) -> torch.device:
        return mm.get_torch_device()

    def folder_root(self, folder: str) -> str:
        kind, *sub = folder.split("/")
        return os.path.join(folder_paths.get_folder_paths(kind)[0], *sub)

    def locate(self, folder: str, name: str) -> str | None:
        return folder_paths.get_full_path(folder, name)

    def compute_capability(self, device: torch.device) -> Capability | None:
        return cuda_capability(device)

    def offload_device(self, model: str) -> torch.device:
        """Whisper is kept with the text encoders, the VAE with ComfyUI's VAEs, the UNet and restorers with UNets."""
        if model == WHISPER:
            return mm.text_encoder_offload_device()
        return mm.vae_offload_device() if model == VAE else mm.unet_offload_device()

    def preferred_dtype(self, model: str) -> torch.dtype:
        """ComfyUI's choices: ``mm.unet_dtype`` (its ``--*-unet`` flags included), its VAE's, float16 for Whisper
        where ComfyUI uses fp16; the restorers bfloat16 on CUDA (the policy turns it into float32 where not native)."""
        device = self.device
        if model == UNET:
            return mm.unet_dtype(device=device, supported_dtypes=[torch.float16, torch.bfloat16, torch.float32])
        if model == VAE:
            return mm.vae_dtype(mm.vae_device(), SD_VAE_DTYPES)
        if model == WHISPER:
            return torch.float16 if mm.should_use_fp16(device) else torch.float32
        return torch.bfloat16 if device.type == "cuda" else torch.float32

    def free_memory(self, device: torch.device) -> int:
        return mm.get_free_memory(device)

    def note(self, message: str) -> None:
        if message not in _said:
            _said.add(message)
            log.warning("LatentSync: %s", message)


def open_landmark_cache(enabled: bool, max_gb: float) -> LandmarkCache | None:
    """The landmark cache in ``<ComfyUI user directory>/latentsync/landmark_cache`` (or ``$LATENTSYNC_LANDMARK_CACHE``),
    at most ``max_gb`` GB, when the ``landmark_cache`` input is on, else None."""
    if not enabled:
        return None
    folder = default_cache_dir(os.path.join(folder_paths.get_user_directory(), "latentsync", "landmark_cache"))
    return LandmarkCache(folder, max_bytes=int(max_gb * 1024**3))


class PatcherHost(torch.nn.Module):
    """Holds a diffusers model for ``ModelPatcher``, which sets ``model.device`` (read-only on diffusers models)."""

    def __init__(self, wrapped: torch.nn.Module) -> None:
        super().__init__()
        self.wrapped = wrapped
        self.device = next(wrapped.parameters()).device


def hosted(patcher: ModelPatcher) -> torch.nn.Module:
    """The model a patcher manages, unwrapped from its :class:`PatcherHost`."""
    model = patcher.model
    return model.wrapped if isinstance(model, PatcherHost) else model


def _elsewhere(patcher: ModelPatcher) -> int:
    """How many parameters and buffers of the patcher's model are not on its load device."""
    device = torch.device(patcher.load_device)
    tensors = [*patcher.model.parameters(), *patcher.model.buffers()]
    return sum(1 for t in tensors if t.device.type != device.type or (device.index is not None and t.device != device))


def load_fully(patchers: list[ModelPatcher], memory_required: int) -> None:
    """Load ``patchers`` with ``memory_required`` bytes of room for activations, every weight on its device.

    ``memory_required`` makes ComfyUI offload other models before ours run. Our models are plain torch
    layers (diffusers, spandrel), not ComfyUI's cast-on-the-fly layers, and some weights sit in non-leaf
    modules that a partial load never moves (GFPGAN's modulated conv weights and noise buffers, CodeFormer's
    position embedding): a partial load (``--novram`` keeps one even with ``force_full_load``) would leave
    weights on the CPU next to inputs on the GPU. Such a model is loaded whole instead, and the log says so.
    """
    mm.load_models_gpu(patchers, memory_required=memory_required, force_full_load=True)
    for patcher in patchers:
        if _elsewhere(patcher):
            log.warning(
                "LatentSync: loading %s fully on %s: it cannot run partially loaded (low-VRAM mode), "
                "its layers need their weights on the device.", type(hosted(patcher)).__name__, patcher.load_device,
            )
            patcher.partially_load(patcher.load_device, extra_memory=patcher.model_size())
            if _elsewhere(patcher):
                patcher.model.to(patcher.load_device)


def model_patcher(model: torch.nn.Module, host: ComfyHost, kind: str) -> ModelPatcher:
    """``model`` under ComfyUI's memory manager: computing on the host's device, kept on its offload device for ``kind``."""
    return ModelPatcher(model, load_device=host.device, offload_device=host.offload_device(kind))


def whisper_patcher(model: torch.nn.Module) -> ModelPatcher:
    """Whisper under ComfyUI's memory manager, the same for both loader nodes (kept with the text encoders)."""
    return model_patcher(model, ComfyHost(), WHISPER)


def unet_patcher(model: object) -> ModelPatcher:
    """A LATENTSYNC_MODEL as it is, or a bare UNet module wrapped in one."""
    if isinstance(model, ModelPatcher):
        return model
    if isinstance(model, torch.nn.Module):
        return model_patcher(PatcherHost(model), ComfyHost(), UNET)
    raise BadInputError("The model input is not a LatentSync model; connect the LatentSync model loader's output.")


_REHOSTED_VAES: RehostedCopies[ModelPatcher] = RehostedCopies()


def _vae_patcher(vae: object, host: ComfyHost) -> ModelPatcher:
    """ComfyUI's VAE as the diffusers ``AutoencoderKL`` (same weights) that LatentSync's stochastic encode needs.

    It goes where ComfyUI puts that VAE (its device, so ``--cpu-vae`` holds, and offload device) in the
    dtype ComfyUI picked for it (through the pack's dtype policy); made once per VAE object, device and dtype.
    """
    device, offload = vae.device, vae.patcher.offload_device
    dtype = model_dtype(host, VAE, vae.vae_dtype, device)

    def rehost() -> ModelPatcher:
        weights = vae_from_state_dict(vae.get_sd(), device=offload, dtype=dtype, source="The connected VAE's weights")
        return ModelPatcher(PatcherHost(weights), load_device=device, offload_device=offload)

    return _REHOSTED_VAES.get(vae, (torch.device(device), dtype), rehost)


def _sub_batched_vae(vae: object, patcher: ModelPatcher, host: ComfyHost) -> SubBatchedVAE:
    """The hosted VAE, run in as many frames per call as free memory holds by ComfyUI's own VAE estimate."""
    dtype = hosted(patcher).dtype

    def frames_per_call(kind: str, shape: torch.Size) -> int:
        one = (1, *shape[1:])
        per_frame = vae.memory_used_encode(one, dtype) if kind == "encode" else vae.memory_used_decode(one, dtype)
        return frames_that_fit(host, patcher.load_device, per_frame)

    return SubBatchedVAE(hosted(patcher), frames_per_call)


@dataclass(frozen=True)
class SamplingModels:
    """What ``sample_video`` takes, loaded on their devices."""

    unet: torch.nn.Module
    vae: SubBatchedVAE
    device: torch.device
    """The UNet's device (the sampler's compute device; the VAE may run elsewhere, e.g. ``--cpu-vae``)."""
    dtype: torch.dtype


def load_for_sampling(model: object, vae: object, resolution: int, chunk_frames: int, guidance: bool,
                      others: Sequence[ModelPatcher] = (), other_memory: int = 0) -> SamplingModels:
    """Load the UNet (LATENTSYNC_MODEL or bare module) and ComfyUI's VAE for sampling ``resolution`` px faces.

    ``load_models_gpu`` is asked for room for the UNet's activations on a chunk of ``chunk_frames`` and the
    VAE on one frame; the VAE then runs as many frames per call as free memory holds. ``others`` (e.g. the
    Whisper encoder and restorers of the streaming node) are loaded with them, with ``other_memory`` more bytes.
    """
    host = ComfyHost()
    unet_model = unet_patcher(model)
    vae_model = _vae_patcher(vae, host)
    unet = hosted(unet_model)
    dtype = next(unet.parameters()).dtype
    latent = resolution // VAE_DOWNSCALE
    memory = sampler_activation_bytes(resolution, chunk_frames, dtype, guidance) + other_memory
    memory += vae.memory_used_decode((1, LATENT_CHANNELS, latent, latent), hosted(vae_model).dtype)
    load_fully([unet_model, vae_model, *others], memory)
    return SamplingModels(unet, _sub_batched_vae(vae, vae_model, host), torch.device(unet_model.load_device), dtype)
