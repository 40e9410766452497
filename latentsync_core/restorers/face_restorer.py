"""The loaded face-restoration network and the correct way to call it.

GFPGAN and CodeFormer both work on ``[-1, 1]`` images and return a tuple whose
first item is the image, also in ``[-1, 1]``. spandrel's generic descriptor call
feeds the ``[0, 1]`` image unchanged and clamps the raw output to ``[0, 1]``,
which gives washed-out gray faces (ComfyUI issue #3661); :class:`FaceRestorer`
maps the range both ways instead. GFPGAN's StyleGAN decoder draws fresh noise on
every call unless told to use its stored noise maps; it is always told to, so the
same face gives the same output.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import BadInputError

GFPGAN = "GFPGAN"
CODEFORMER = "CodeFormer"


@dataclass
class FaceRestorer:
    """A GFPGAN or CodeFormer network with its calling conventions.

    Attributes:
        arch: ``"GFPGAN"`` or ``"CodeFormer"`` (spandrel's architecture id).
        net: the spandrel network module, in eval mode.
        size: the only side the network accepts (512); other sizes are resized to it and back.
        supports_fp16: False for both: float16 overflows inside the networks.
        supports_bf16: True for both.
    """

    arch: str
    net: torch.nn.Module
    size: int = 512
    supports_fp16: bool = False
    supports_bf16: bool = True

    @property
    def has_fidelity(self) -> bool:
        """True when the network takes a fidelity weight (CodeFormer's ``w``)."""
        return self.arch == CODEFORMER

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.net.parameters()).dtype

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> FaceRestorer:
        """Move/cast the network in place; refuses float16. Returns ``self``."""
        if dtype == torch.float16 and not self.supports_fp16:
            raise BadInputError(f"{self.arch} does not run in float16 (it overflows); use bfloat16 or float32.")
        if dtype == torch.bfloat16 and not self.supports_bf16:
            raise BadInputError(f"{self.arch} does not run in bfloat16; use float32.")
        self.net.to(device=device, dtype=dtype)
        return self

    def forward_network(self, x: torch.Tensor, fidelity: float = 0.5) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One raw network call.

        Args:
            x: ``[B, 3, size, size]`` in ``[-1, 1]``, on the network's device and dtype.
            fidelity: CodeFormer's ``w`` in ``[0, 1]`` (0 = most restoration, 1 = closest to
                the input); ignored by GFPGAN.

        Returns:
            ``(image, codes)``: image ``[B, 3, size, size]`` unclamped, nominally ``[-1, 1]``;
            codes ``[B, 256]`` int64 codebook indices CodeFormer chose (None for GFPGAN).
        """
        # Below float32, autocast keeps mixed-dtype ops consistent: spandrel's CodeFormer
        # looks codes up with a float32 matmul against the (bfloat16) codebook.
        low_precision = self.dtype != torch.float32
        with torch.autocast(x.device.type, dtype=self.dtype, enabled=low_precision):
            if self.arch == GFPGAN:
                return self.net(x, return_rgb=False, randomize_noise=False)[0], None
            image, logits = self.net(x, weight=float(fidelity))
        codes = torch.topk(torch.softmax(logits.float(), dim=2), 1, dim=2).indices[..., 0]
        return image, codes

    @torch.no_grad()
    def restore(self, faces: torch.Tensor, fidelity: float = 0.5, batch_size: int = 0) -> torch.Tensor:
        """Restore aligned faces.

        Args:
            faces: ``[B, 3, H, W]`` float in ``[0, 1]`` on any device; resized to ``size`` for
                the network and back when ``H, W != size``.
            fidelity: CodeFormer's ``w`` (see :meth:`forward_network`); ignored by GFPGAN.
            batch_size: faces per network call; 0 runs all ``B`` at once.

        Returns:
            ``[B, 3, H, W]`` float32 in ``[0, 1]``, on the device of ``faces``.
        """
        if faces.ndim != 4 or faces.shape[1] != 3:
            raise BadInputError(f"Face restore needs [B, 3, H, W] RGB faces, got shape {tuple(faces.shape)}.")
        if not 0.0 <= fidelity <= 1.0:
            raise BadInputError(f"Fidelity must be in [0, 1], got {fidelity}.")
        height, width = faces.shape[-2:]
        step = batch_size if batch_size > 0 else max(faces.shape[0], 1)
        outputs = []
        for start in range(0, faces.shape[0], step):
            x = faces[start:start + step].to(device=self.device, dtype=torch.float32)
            x = _resize(x, self.size, self.size)
            image, _ = self.forward_network((x * 2.0 - 1.0).to(self.dtype), fidelity)
            image = (image.to(torch.float32).clamp(-1.0, 1.0) + 1.0) * 0.5
            outputs.append(_resize(image, height, width).clamp(0.0, 1.0).to(faces.device))
        if not outputs:
            return faces.new_zeros(faces.shape, dtype=torch.float32)
        return torch.cat(outputs)


def _resize(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize of ``[B, C, h, w]`` (antialiased when shrinking); no-op at the same size."""
    if tuple(x.shape[-2:]) == (height, width):
        return x
    return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
