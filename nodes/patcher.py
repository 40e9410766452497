"""Hosting diffusers/transformers models in ComfyUI's ModelPatcher."""
import torch
from comfy.model_patcher import ModelPatcher


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
