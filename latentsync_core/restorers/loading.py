"""Load a GFPGAN / CodeFormer weights file into a :class:`FaceRestorer`.

Files are read without running code (``torch.load(weights_only=True)`` or
safetensors); the architecture is detected by spandrel. CodeFormer comes from
``spandrel-extra-arches`` (non-commercial licence), registered into a private
copy of spandrel's registry so the global one is left as the host set it up.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

import torch

from ..errors import BadInputError, MissingDependencyError
from ..files.spandrel_models import read_spandrel_state_dict, registry
from ..lipsync.dtypes import Capability, bf16_native
from ..lipsync.memory import MARGIN

from .face_restorer import CODEFORMER, GFPGAN, FaceRestorer

SUPPORTED = (GFPGAN, CODEFORMER)
_CODEFORMER_KEYS = ("position_emb", "quantize.embedding.weight", "idx_pred_layer.1.weight")


def restorer_from_state_dict(state_dict: Mapping[str, torch.Tensor], name: str = "state dict") -> FaceRestorer:
    """Detect GFPGAN (v1.2/1.3/1.4, the "clean" architecture) or CodeFormer and build it (CPU, float32, eval).

    Raises:
        BadInputError: spandrel found another architecture or none.
        MissingDependencyError: a CodeFormer file while spandrel-extra-arches is not installed.
    """
    models = registry()
    from spandrel import UnsupportedModelError

    try:
        descriptor = models.load(dict(state_dict))
    except UnsupportedModelError:
        if all(key in state_dict for key in _CODEFORMER_KEYS):
            raise MissingDependencyError(
                "spandrel-extra-arches", "Loading CodeFormer (non-commercial licence)"
            ) from None
        raise BadInputError(
            f"'{name}' is not a recognised model; choose a GFPGAN v1.2/1.3/1.4 or CodeFormer file."
        ) from None
    arch = descriptor.architecture.id
    if arch not in SUPPORTED:
        raise BadInputError(
            f"'{name}' holds a {arch} model (as detected by spandrel), not a face restorer; "
            "choose a GFPGAN v1.2/1.3/1.4 or CodeFormer file."
        )
    net = descriptor.model.eval()
    net.requires_grad_(False)
    return FaceRestorer(
        arch=arch,
        net=net,
        supports_fp16=bool(descriptor.supports_half),
        supports_bf16=bool(descriptor.supports_bfloat16),
    )


def load_face_restorer(
    path: str, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> FaceRestorer:
    """Load a weights file as a :class:`FaceRestorer` on ``device`` in ``dtype`` (float32 or bfloat16)."""
    restorer = restorer_from_state_dict(read_spandrel_state_dict(path), name=os.path.basename(path))
    return restorer.to(device=device, dtype=dtype)


def default_dtype(device: torch.device | str, capability: Capability | None = None) -> torch.dtype:
    """bfloat16 on a CUDA device that runs it natively (compute capability >= 8.0), else float32.

    ``torch.cuda.is_bf16_supported()`` is also true on older cards, where bfloat16 is emulated and slow.
    On CPU bfloat16 gave no reliable speed-up in ``bench/bench_restorers.py`` and costs precision.
    float16 is never used: both networks overflow in it.
    """
    device = torch.device(device)
    if device.type == "cuda" and bf16_native(device, capability):
        return torch.bfloat16
    return torch.float32


ACTIVATION_BYTES_PER_FACE = {GFPGAN: int(542.7 * 2**20), CODEFORMER: int(588.6 * 2**20)}
"""Peak activation bytes of one float32 forward pass on one 512 px face (GFPGAN 542.7 MiB, CodeFormer
588.6 MiB), measured on the CPU by ``bench/activation_memory.py`` (storages alive during the pass,
counted by a ``TorchDispatchMode``; spandrel's networks with random weights); taken as linear in faces."""


def restorer_activation_bytes(arch: str, faces: int, dtype: torch.dtype, size: int = 512) -> int:
    """Bytes to keep free for one ``arch`` call on ``faces`` crops of ``size`` px, with :data:`MARGIN` headroom."""
    per_face = ACTIVATION_BYTES_PER_FACE[arch] * (size / 512) ** 2
    return int(MARGIN * per_face * faces * dtype.itemsize / 4)
