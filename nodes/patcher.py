"""Hosting diffusers/transformers/spandrel models in ComfyUI's ModelPatcher, and loading them whole."""
import logging

import comfy.model_management as mm
import torch
from comfy.model_patcher import ModelPatcher

log = logging.getLogger(__name__)


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
