"""Load and validate LatentSync UNet checkpoints (``latentsync_unet.pt``).

The official files are ``{"state_dict": {...}}`` saved by ``torch.save`` (fp32, ~5 GB) with
the reference ``UNet3DConditionModel`` key names. The reference loads them with
``strict=False``, so a checkpoint of another layout loads silently and produces a blurred
mouth; here the layout is read from the keys and anything that does not match the chosen
architecture is refused with a message naming what was found.

LatentSync 1.5 and 1.6 have identical keys and shapes, so the version is taken from, in
order: the file's sha256 in ``KNOWN_CHECKPOINTS``, an explicit ``version`` argument, or the
folder the file sits in (``.../LatentSync-1.5/latentsync_unet.pt``). Conflicting evidence
is refused.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Mapping

import torch

from ..errors import BadInputError, MissingModelError
from ..files.weights import load_weights
from ..files.model_files import UNET, UNET_FILE_NAME, VERSIONS, official_file, sha256_file
from .unet import LatentSyncUNet, LatentSyncUNetConfig, build_unet, map_reference_state_dict

CONFIGS = {"1.5": LatentSyncUNetConfig.v15, "1.6": LatentSyncUNetConfig.v16}

KNOWN_CHECKPOINTS: dict[str, str] = {}
"""sha256 (lower-case hex) of a released ``latentsync_unet.pt`` -> version ("1.5"/"1.6").

Empty until someone with the released files records their hashes; while empty no file is
hashed (hashing 5 GB takes seconds)."""

_VERSION_IN_PATH = re.compile(r"latent[-_ ]?sync[-_ ]?v?1[._]?([56])(?![0-9])", re.IGNORECASE)


def checkpoint_url(version: str) -> str:
    """Download URL of the UNet checkpoint for ``version`` ("1.5" or "1.6")."""
    return official_file(UNET, version).url


@dataclass(frozen=True)
class CheckpointLayout:
    """Architecture read from a UNet state dict (reference or ``LatentSyncUNet`` key names)."""

    in_channels: int
    out_channels: int
    cross_attention_dim: int | None
    block_out_channels: tuple[int, ...]
    temporal_down: bool
    temporal_up: bool
    temporal_mid: bool

    @property
    def temporal(self) -> str:
        """``full`` (down and up blocks), ``decoder-only``, ``none`` or ``other``."""
        if self.temporal_down and self.temporal_up and not self.temporal_mid:
            return "full"
        if self.temporal_up and not (self.temporal_down or self.temporal_mid):
            return "decoder-only"
        if not (self.temporal_down or self.temporal_up or self.temporal_mid):
            return "none"
        return "other"

    def aspects(self) -> dict[str, str]:
        """Phrases naming each part of the layout, for error messages."""
        temporal = {
            "full": "temporal layers in every down and up block (LatentSync 1.5/1.6)",
            "decoder-only": "temporal layers only in the up blocks (the training-only stage2_efficient layout)",
            "none": "no temporal layers (the LatentSync 1.0 / stage-1 layout)",
            "other": "temporal layers in an unknown arrangement",
        }[self.temporal]
        return {
            "in": f"{self.in_channels} input channels",
            "out": f"{self.out_channels} output channels",
            "audio": f"audio features {self.cross_attention_dim} wide",
            "blocks": f"blocks {list(self.block_out_channels)}",
            "temporal": temporal,
        }


def read_unet_state_dict(path: str, version_hint: str = "1.5") -> dict[str, torch.Tensor]:
    """Tensors of a ``latentsync_unet.pt``, loaded safely (``weights_only``) onto the CPU.

    Accepts ``{"state_dict": {...}}`` (the released files) or a bare state dict. Tensors are
    memory-mapped where the file format allows. ``version_hint`` only picks the download URL
    named when the file is missing.
    """
    if not os.path.isfile(path):
        raise MissingModelError(os.path.basename(path), os.path.dirname(path) or ".", checkpoint_url(version_hint))
    obj = load_weights(path, "the LatentSync UNet", f"Download it again from {checkpoint_url(version_hint)} (the released file is about 5 GB).", mmap=True)
    if isinstance(obj, Mapping) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise BadInputError(f"'{path}' is not a UNet state dict (expected a dict of tensors under 'state_dict').")
    return dict(obj)


def detect_layout(state_dict: Mapping[str, torch.Tensor]) -> CheckpointLayout:
    """Read the architecture from a UNet state dict's keys and shapes."""
    if "conv_in.weight" not in state_dict or "conv_out.weight" not in state_dict:
        sample = ", ".join(sorted(state_dict)[:3]) or "none"
        raise BadInputError(f"This file is not a LatentSync UNet checkpoint (no conv_in/conv_out weights; keys such as {sample}).")
    blocks: dict[int, int] = {}
    for key, value in state_dict.items():
        m = re.match(r"down_blocks\.(\d+)\.resnets\.0\.conv1\.weight$", key)
        if m:
            blocks[int(m.group(1))] = value.shape[0]
    cross = next(
        (v.shape[1] for k, v in state_dict.items() if ".attn2.to_k.weight" in k and ".motion_modules." not in k),
        None,
    )
    return CheckpointLayout(
        in_channels=state_dict["conv_in.weight"].shape[1],
        out_channels=state_dict["conv_out.weight"].shape[0],
        cross_attention_dim=cross,
        block_out_channels=tuple(blocks[i] for i in sorted(blocks)),
        temporal_down=any(k.startswith("down_blocks.") and ".motion_modules." in k for k in state_dict),
        temporal_up=any(k.startswith("up_blocks.") and ".motion_modules." in k for k in state_dict),
        temporal_mid=any(k.startswith("mid_block.") and ".motion_modules." in k for k in state_dict),
    )


def check_layout(layout: CheckpointLayout, config: LatentSyncUNetConfig, source: str = "The checkpoint") -> None:
    """Raise ``BadInputError`` unless ``layout`` is the architecture ``config`` describes."""
    expected = CheckpointLayout(
        in_channels=config.in_channels,
        out_channels=config.out_channels,
        cross_attention_dim=config.cross_attention_dim,
        block_out_channels=tuple(config.block_out_channels),
        temporal_down=True,
        temporal_up=True,
        temporal_mid=False,
    )
    found, needed = layout.aspects(), expected.aspects()
    differ = [k for k in needed if found[k] != needed[k]]
    if differ:
        raise BadInputError(
            f"{source} does not fit {config.name}: it has {', '.join(found[k] for k in differ)}; "
            f"{config.name} needs {', '.join(needed[k] for k in differ)}. Use the matching {UNET_FILE_NAME} "
            f"(LatentSync 1.5: {checkpoint_url('1.5')}, 1.6: {checkpoint_url('1.6')})."
        )


def version_from_path(path: str) -> str | None:
    """"1.5"/"1.6" when the file's folder names it (e.g. ``LatentSync-1.6/latentsync_unet.pt``), else None."""
    folder = os.path.dirname(os.path.abspath(path))
    found = {m.group(1) for m in _VERSION_IN_PATH.finditer(folder)}
    return f"1.{found.pop()}" if len(found) == 1 else None


def identify_version(path: str, version: str | None = None) -> str:
    """Version of a ``latentsync_unet.pt``: known sha256, else ``version``, else its folder name.

    ``version`` is "1.5", "1.6" or None (auto). Raises ``BadInputError`` when the evidence
    conflicts or none is available.
    """
    if version is not None and version not in VERSIONS:
        raise BadInputError(f"Unknown LatentSync version '{version}'; choose 1.5 or 1.6.")
    evidence: dict[str, str] = {}
    if KNOWN_CHECKPOINTS:
        known = KNOWN_CHECKPOINTS.get(sha256_file(path))
        if known:
            evidence["its sha256"] = known
    if version is not None:
        evidence["the chosen version"] = version
    from_path = version_from_path(path)
    if from_path:
        evidence["its folder name"] = from_path
    found = set(evidence.values())
    if len(found) > 1:
        said = ", ".join(f"{how} says {v}" for how, v in evidence.items())
        raise BadInputError(
            f"Conflicting LatentSync versions for '{path}': {said}. Versions 1.5 (256 px) and 1.6 (512 px) "
            "must not be mixed; pick the version the file really is, or move it to a folder named for it."
        )
    if not found:
        raise BadInputError(
            f"Cannot tell whether '{path}' is LatentSync 1.5 or 1.6 (their files have the same layout). "
            "Choose the version explicitly, or keep the file in a folder named LatentSync-1.5 or LatentSync-1.6."
        )
    return found.pop()


@dataclass(frozen=True)
class LoadedUNet:
    """A loaded UNet with the version and architecture it was checked against."""

    unet: LatentSyncUNet
    version: str | None
    config: LatentSyncUNetConfig


def load_unet(
    path: str,
    version: str | None = None,
    *,
    config: LatentSyncUNetConfig | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> LoadedUNet:
    """Load ``latentsync_unet.pt`` into a ``LatentSyncUNet`` (eval mode) after checking its layout.

    ``config`` defaults to the preset of the identified version; passing one (e.g. a test
    config) skips version identification unless ``version`` is also given.
    """
    if not os.path.isfile(path):
        url = checkpoint_url(version or version_from_path(path) or "1.5")
        raise MissingModelError(os.path.basename(path), os.path.dirname(path) or ".", url)
    if config is None or version is not None:
        version = identify_version(path, version)
    state = read_unet_state_dict(path, version or "1.5")
    config = config or CONFIGS[version]()
    check_layout(detect_layout(state), config, f"'{os.path.basename(path)}'")
    unet = build_unet(config, device="meta")
    mapped = map_reference_state_dict(state)
    missing, unexpected = _key_mismatch(unet, mapped)
    if missing or unexpected:
        raise BadInputError(
            f"'{path}' does not fit {config.name}: {len(missing)} weights missing (e.g. {missing[:3]}), "
            f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})."
        )
    try:
        unet.load_state_dict(mapped, strict=True, assign=True)
    except RuntimeError as err:
        raise BadInputError(f"'{path}' does not fit {config.name}: {str(err).splitlines()[-1].strip()}") from None
    unet = torch.nn.Module.to(unet, device=device, dtype=dtype)
    return LoadedUNet(unet=unet.eval(), version=version, config=config)


def _key_mismatch(unet: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> tuple[list[str], list[str]]:
    own = set(unet.state_dict())
    return sorted(own - set(state)), sorted(set(state) - own)
