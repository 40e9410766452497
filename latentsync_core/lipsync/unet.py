"""LatentSync's audio-conditioned video UNet, hosted on diffusers' ``UNetMotionModel``.

LatentSync 1.5/1.6 use a Stable-Diffusion-1.5-shaped UNet whose spatial cross-attention
attends to Whisper audio features (384 wide, 50 tokens per frame) instead of text, with an
AnimateDiff-style temporal self-attention module after every resnet of every down and up
block. diffusers' ``UNetMotionModel`` has the same blocks; two GroupNorm behaviours differ
and are fixed here by swapping the norm modules in the constructor (so any rebuild of the
model, e.g. by ComfyUI's ModelPatcher, keeps them):

* resnet norms and ``conv_norm_out``: LatentSync normalises each sample over all of its
  frames together; diffusers sees ``(batch*frames, C, H, W)`` and would normalise per frame.
* temporal-module input norm: LatentSync normalises per frame; diffusers over all frames.

Reference checkpoints use other names for the temporal-module weights;
``map_reference_state_dict`` renames them.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Mapping

import diffusers
import torch
import torch.nn.functional as F

from ..errors import BadInputError, MissingDependencyError

# Older UNetMotionModel repeats one cross-attention context for every frame; LatentSync's differs per frame.
if tuple(int(p) for p in re.findall(r"\d+", diffusers.__version__)[:2]) < (0, 31):
    raise MissingDependencyError(
        "diffusers>=0.31", "The LatentSync UNet (per-frame audio context)", "pip install -U 'diffusers>=0.31'"
    )

from diffusers import UNetMotionModel  # noqa: E402
from diffusers.models.resnet import ResnetBlock2D  # noqa: E402
from diffusers.models.unets.unet_motion_model import AnimateDiffTransformer3D  # noqa: E402


@dataclass(frozen=True)
class LatentSyncUNetConfig:
    """Architecture of a LatentSync UNet (the ``model:`` part of the reference's stage2 yaml).

    ``resolution`` is the face-crop size in pixels the weights were trained for (latents are
    ``resolution // 8`` wide); it does not change the network's shape.
    """

    block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280)
    layers_per_block: int = 2
    in_channels: int = 13
    out_channels: int = 4
    cross_attention_dim: int = 384
    attention_heads: int = 8
    motion_attention_heads: int = 8
    motion_max_frames: int = 24
    norm_num_groups: int = 32
    norm_eps: float = 1e-5
    resolution: int = 256
    name: str = field(default="custom", compare=False)

    @classmethod
    def v15(cls) -> "LatentSyncUNetConfig":
        """LatentSync 1.5 (``configs/unet/stage2.yaml``, 256 px faces)."""
        return cls(resolution=256, name="LatentSync 1.5")

    @classmethod
    def v16(cls) -> "LatentSyncUNetConfig":
        """LatentSync 1.6 (``configs/unet/stage2_512.yaml``, 512 px faces)."""
        return cls(resolution=512, name="LatentSync 1.6")

    @classmethod
    def tiny(cls) -> "LatentSyncUNetConfig":
        """Same layout with narrow blocks (5.3 M parameters), for tests."""
        return cls(block_out_channels=(32, 64, 64, 64), resolution=64, name="tiny")

    def diffusers_kwargs(self) -> dict:
        """Keyword arguments for ``UNetMotionModel`` that build this architecture."""
        n = len(self.block_out_channels)
        return dict(
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            down_block_types=("CrossAttnDownBlockMotion",) * (n - 1) + ("DownBlockMotion",),
            up_block_types=("UpBlockMotion",) + ("CrossAttnUpBlockMotion",) * (n - 1),
            block_out_channels=tuple(self.block_out_channels),
            layers_per_block=self.layers_per_block,
            norm_num_groups=self.norm_num_groups,
            norm_eps=self.norm_eps,
            cross_attention_dim=self.cross_attention_dim,
            num_attention_heads=self.attention_heads,
            motion_num_attention_heads=self.motion_attention_heads,
            motion_max_seq_length=self.motion_max_frames,
            use_motion_mid_block=False,
            use_linear_projection=False,
        )


class _FrameCount:
    """Frames per sample of the current forward pass, shared by the joint-frame norms."""

    def __init__(self) -> None:
        self.value = 1


class JointFrameGroupNorm(torch.nn.GroupNorm):
    """GroupNorm of ``(batch*frames, C, H, W)`` with statistics over all frames of a sample.

    Same parameters (``weight``, ``bias``) as ``nn.GroupNorm``; ``frames`` is set by the
    owning ``LatentSyncUNet`` at the start of each forward pass.
    """

    def __init__(self, norm: torch.nn.GroupNorm, frames: _FrameCount) -> None:
        super().__init__(norm.num_groups, norm.num_channels, norm.eps, norm.affine)
        self.frames = frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.frames.value
        bf, c, h, w = x.shape
        # (b*f, C, H, W) -> (b, C, f, H, W): one group spans its channels in every frame.
        x5 = x.view(bf // f, f, c, h, w).transpose(1, 2)
        y = F.group_norm(x5, self.num_groups, self.weight, self.bias, self.eps)
        return y.transpose(1, 2).reshape(bf, c, h, w)


class PerFrameGroupNorm(torch.nn.GroupNorm):
    """GroupNorm of ``(batch, C, frames, H, W)`` with statistics per frame."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, f, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * f, c, h, w)
        y = F.group_norm(frames, self.num_groups, self.weight, self.bias, self.eps)
        return y.view(b, f, c, h, w).transpose(1, 2)


class LatentSyncUNet(UNetMotionModel):
    """``UNetMotionModel`` with LatentSync's normalisation; see the module docstring.

    Call it as the reference does: ``unet(sample, timestep, encoder_hidden_states)``.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        frames = _FrameCount()
        self._frame_count = frames
        for module in list(self.modules()):
            if isinstance(module, ResnetBlock2D):
                module.norm1 = JointFrameGroupNorm(module.norm1, frames)
                module.norm2 = JointFrameGroupNorm(module.norm2, frames)
            elif isinstance(module, AnimateDiffTransformer3D):
                old = module.norm
                module.norm = PerFrameGroupNorm(old.num_groups, old.num_channels, old.eps, old.affine)
        self.conv_norm_out = JointFrameGroupNorm(self.conv_norm_out, frames)

    # diffusers reads a model's config keys from its __init__ signature (from_config, save/load).
    __init__.__signature__ = inspect.signature(UNetMotionModel.__init__)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        **kwargs,
    ) -> torch.Tensor:
        """Predict noise for a clip.

        Args:
            sample: ``(b, in_channels, f, h, w)`` latents: noisy (4), mask (1), masked frame (4),
                reference frame (4), in the VAE's scaled latent range (about -4..4).
            timestep: scalar or ``(b,)`` diffusion timestep in ``[0, 1000)``.
            encoder_hidden_states: ``(b*f, 50, 384)`` Whisper audio features, frame-major
                within each sample.
        Returns:
            ``(b, out_channels, f, h, w)`` predicted noise.
        """
        if sample.ndim != 5:
            raise BadInputError(
                f"UNet input must be (batch, channels, frames, height, width); got shape {tuple(sample.shape)}."
            )
        b, _, f, _, _ = sample.shape
        if encoder_hidden_states.ndim != 3 or encoder_hidden_states.shape[0] != b * f:
            raise BadInputError(
                f"Audio features must be (batch*frames={b * f}, tokens, {self.config.cross_attention_dim}); "
                f"got shape {tuple(encoder_hidden_states.shape)}. Give one audio window per video frame."
            )
        if f > self.config.motion_max_seq_length:
            raise BadInputError(
                f"The UNet takes at most {self.config.motion_max_seq_length} frames per call; got {f}. "
                "Split the clip into shorter chunks (LatentSync uses 16)."
            )
        self._frame_count.value = f
        kwargs["return_dict"] = False
        return super().forward(sample, timestep, encoder_hidden_states, **kwargs)[0]


def build_unet(
    config: LatentSyncUNetConfig,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> LatentSyncUNet:
    """A ``LatentSyncUNet`` with diffusers' default initial weights, in eval mode.

    Use ``device="meta"`` to build without memory and fill with ``load_state_dict(..., assign=True)``.
    """
    with torch.device(device):
        unet = LatentSyncUNet(**config.diffusers_kwargs())
    # nn.Module.to: ModelMixin.to warns about fp32-pinned modules, of which this model has none.
    return torch.nn.Module.to(unet, dtype=dtype).eval()


_MOTION_RENAMES = (
    (".temporal_transformer.", "."),
    (".attention_blocks.0.", ".attn1."),
    (".attention_blocks.1.", ".attn2."),
    (".norms.0.", ".norm1."),
    (".norms.1.", ".norm2."),
    (".ff_norm.", ".norm3."),
)
_POS_ENCODER = re.compile(r"^(.*\.transformer_blocks\.\d+)\.attention_blocks\.(\d+)\.pos_encoder\.pe$")


def map_reference_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a reference ``UNet3DConditionModel`` state dict to ``LatentSyncUNet`` keys.

    Only temporal-module keys change. The reference stores the (constant) sinusoidal table
    once per temporal attention; here one table per temporal transformer block is kept,
    and the second copy must equal the first.
    """
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        pos = _POS_ENCODER.match(key)
        if pos:
            block, index = pos.groups()
            if index != "0":
                first = state_dict.get(f"{block}.attention_blocks.0.pos_encoder.pe")
                if first is None or not torch.equal(first, value):
                    raise BadInputError(f"Checkpoint key '{key}' holds a positional table that differs from its block's first one.")
                continue
            mapped[_rename_motion(f"{block}.pos_embed.pe")] = value
            continue
        mapped[_rename_motion(key) if ".motion_modules." in key else key] = value
    return mapped


def _rename_motion(key: str) -> str:
    for old, new in _MOTION_RENAMES:
        key = key.replace(old, new)
    return key
