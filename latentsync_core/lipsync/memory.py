"""How much memory the sampler's activations need, for ComfyUI's ``load_models_gpu(memory_required=...)``.

Measured by ``bench/activation_memory.py`` (peak bytes of the storages alive during one float32 UNet
call, counted by a ``TorchDispatchMode`` on the CPU, real-size architectures, random weights):

============  ======================  ======================
UNet          1 frame (guidance, b=2)  2 frames (b=2)
============  ======================  ======================
1.5 @ 256     66.7 MiB                 131.8 MiB
1.6 @ 512     262.0 MiB                522.4 MiB
============  ======================  ======================

The peak grows linearly with frames: per frame and per guidance branch, 32.6 MiB at 256 px and
130.2 MiB at 512 px in float32; it scales with the dtype's size. GPU kernels add workspace the CPU
count does not see (cuDNN, attention kernels), hence :data:`MARGIN`.
"""
from __future__ import annotations

import torch

MIB = 2**20
FLOAT32_BYTES_PER_FRAME = {256: 32.6 * MIB, 512: 130.2 * MIB}
"""Measured peak UNet activation bytes per frame and per guidance branch in float32, by face resolution."""
MARGIN = 1.5
"""Headroom over the CPU-measured peak for GPU kernel workspaces and allocator fragmentation."""


def sampler_activation_bytes(resolution: int, frames: int, dtype: torch.dtype, guidance: bool) -> int:
    """Bytes to keep free for one UNet call on a chunk of ``frames`` faces of ``resolution`` px.

    Resolutions not measured scale from the nearest measured one by pixel count.
    """
    nearest = min(FLOAT32_BYTES_PER_FRAME, key=lambda r: abs(r - resolution))
    per_frame = FLOAT32_BYTES_PER_FRAME[nearest] * (resolution / nearest) ** 2
    branches = 2 if guidance else 1
    return int(MARGIN * per_frame * frames * branches * dtype.itemsize / 4)
