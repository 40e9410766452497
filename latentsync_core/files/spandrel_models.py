"""Model files for spandrel: its architecture registry and the state dict of a file, read safely.

Shared by the face restorers (:mod:`latentsync_core.restorers`) and the background upscalers
(:mod:`latentsync_core.upscalers`). Files are read without running code
(``torch.load(weights_only=True)`` or safetensors). CodeFormer comes from
``spandrel-extra-arches`` (non-commercial licence), registered into a private copy of
spandrel's registry so the global one is left as the host set it up.
"""
from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Mapping

import torch

from ..errors import BadInputError
from .weights import load_weights

_WRAPPER_KEYS = ("params_ema", "params", "state_dict")


@functools.cache
def registry():
    """spandrel's main registry plus the extra architectures, when installed.

    The first import of spandrel happens here, with the ``torch.jit.script`` deprecation warning that
    its architectures raise on current torch silenced (a normal run prints no foreign warnings).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*", category=FutureWarning)
        from spandrel import MAIN_REGISTRY

        try:
            import spandrel_extra_arches
        except ImportError:
            spandrel_extra_arches = None
    registry = MAIN_REGISTRY.copy()
    if spandrel_extra_arches is None:
        return registry
    registry.add(*spandrel_extra_arches.EXTRA_REGISTRY, ignore_duplicates=True)
    return registry


def read_spandrel_state_dict(path: str) -> dict[str, torch.Tensor]:
    """Tensors of a ``.pth``/``.pt``/``.ckpt``/``.bin`` or ``.safetensors`` file, on CPU.

    Unwraps the ``params_ema`` / ``params`` / ``state_dict`` containers of the official
    releases. Pickles that need code to load are refused.
    """
    name = os.path.basename(path)
    obj = load_weights(path, "model file", "Use the official .pth release or a .safetensors file.")
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(torch.is_tensor(v) for v in obj.values()):
        raise BadInputError(f"'{name}' does not hold a model state dict (a mapping of names to tensors).")
    return dict(obj)
