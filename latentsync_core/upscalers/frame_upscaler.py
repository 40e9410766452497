"""Background upscale: a spandrel image upscaler (RealESRGAN x2/x4, ESRGAN, SwinIR, ...) over whole frames.

The frame is upscaled before the lip-synced face is pasted, so the face lands on the
sharper background at the upscaled size (the paste then uses the alignment scaled to the
new size, :meth:`~latentsync_core.face.alignment.Alignment.resized`). Weights are read
with ``torch.load(weights_only=True)`` or safetensors; the architecture is detected by
spandrel. Frames are processed in tiles with a margin of context around each, so memory
stays bounded at any frame size and the tiles join without seams.

Geometry: output pixel ``X`` of an integer-scale ``s`` upscaler covers source position
``(X + 0.5) / s - 0.5`` (pixel centres), the convention ``Alignment.resized`` uses.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from ..errors import BadInputError
from ..files.spandrel_models import read_spandrel_state_dict, registry

DEFAULT_TILE = 512
"""Side of the tiles a frame is cut into (source pixels); 0 = whole frames."""
TILE_MARGIN = 16
"""Source pixels of context added around each tile and cut away after upscaling."""


class FrameUpscaler:
    """An image upscaler applied to batches of uint8 RGB frames.

    Args:
        descriptor: spandrel ``ImageModelDescriptor`` of a super-resolution model.
        name: file name, for messages.
        tile: tile side in source pixels (0: whole frames).
    """

    def __init__(self, descriptor, name: str, tile: int = DEFAULT_TILE) -> None:
        self.descriptor = descriptor
        self.name = name
        self.scale = int(descriptor.scale)
        self.tile = tile

    @property
    def device(self) -> torch.device:
        return self.descriptor.device

    @property
    def dtype(self) -> torch.dtype:
        return self.descriptor.dtype

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> FrameUpscaler:
        self.descriptor.to(device=device, dtype=dtype)
        return self

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """``(height, width)`` of an upscaled ``height x width`` frame."""
        return height * self.scale, width * self.scale

    @torch.inference_mode()
    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """``(N, H, W, 3)`` uint8 RGB -> ``(N, s*H, s*W, 3)`` uint8 RGB."""
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise BadInputError(f"Frames to upscale must be (N, H, W, 3) uint8, got {frames.shape} {frames.dtype}.")
        n, h, w, _ = frames.shape
        s = self.scale
        out = np.empty((n, h * s, w * s, 3), np.uint8)
        step = self.tile if self.tile > 0 else max(h, w)
        for i in range(n):
            image = torch.from_numpy(frames[i]).to(self.device).permute(2, 0, 1)[None]
            image = image.to(self.dtype).div_(255.0)
            for y0 in range(0, h, step):
                for x0 in range(0, w, step):
                    y1, x1 = min(y0 + step, h), min(x0 + step, w)
                    out[i, y0 * s:y1 * s, x0 * s:x1 * s] = self._tile(image, y0, y1, x0, x1)
        return out

    def _tile(self, image: torch.Tensor, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Upscaled pixels of source rows ``y0:y1``, columns ``x0:x1``, computed with a margin of context."""
        h, w = image.shape[-2:]
        m = TILE_MARGIN if self.tile > 0 else 0
        ty0, tx0 = max(0, y0 - m), max(0, x0 - m)
        ty1, tx1 = min(h, y1 + m), min(w, x1 + m)
        up = self.descriptor(image[..., ty0:ty1, tx0:tx1])
        s = self.scale
        up = up[0, :, (y0 - ty0) * s:(y1 - ty0) * s, (x0 - tx0) * s:(x1 - tx0) * s]
        return up.float().mul_(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def upscaler_from_state_dict(state_dict: dict[str, torch.Tensor], name: str = "state dict", tile: int = DEFAULT_TILE) -> FrameUpscaler:
    """Detect the upscaler in ``state_dict`` with spandrel (CPU, float32, eval).

    Raises:
        BadInputError: not an image model, a face restorer, or a model that does not enlarge.
    """
    models = registry()
    from spandrel import ImageModelDescriptor, UnsupportedModelError

    try:
        descriptor = models.load(dict(state_dict))
    except UnsupportedModelError:
        raise BadInputError(f"'{name}' is not a recognised upscaler; use a RealESRGAN / ESRGAN (or other spandrel) upscaler file.") from None
    arch = descriptor.architecture.id
    if not isinstance(descriptor, ImageModelDescriptor) or descriptor.purpose != "SR" or descriptor.scale < 2:
        raise BadInputError(
            f"'{name}' holds a {arch} model (as detected by spandrel) that does not upscale images; "
            "use an upscaler such as RealESRGAN_x2plus.pth or RealESRGAN_x4plus.pth."
        )
    if descriptor.input_channels != 3 or descriptor.output_channels != 3:
        raise BadInputError(f"'{name}' is a {arch} model for {descriptor.input_channels}-channel images; use an RGB upscaler.")
    descriptor.model.requires_grad_(False)
    descriptor.eval()
    return FrameUpscaler(descriptor, name, tile)


def load_upscaler(
    path: str, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32, tile: int = DEFAULT_TILE
) -> FrameUpscaler:
    """Load an upscaler file (``.pth``/``.pt``/``.safetensors``) onto ``device`` in ``dtype``.

    ``dtype`` falls back to float32 where spandrel says the architecture does not run in it.
    """
    upscaler = upscaler_from_state_dict(read_spandrel_state_dict(path), name=os.path.basename(path), tile=tile)
    desc = upscaler.descriptor
    if (dtype == torch.float16 and not desc.supports_half) or (dtype == torch.bfloat16 and not desc.supports_bfloat16):
        dtype = torch.float32
    return upscaler.to(device=device, dtype=dtype)
