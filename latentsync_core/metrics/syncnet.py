"""SyncNet (Chung & Zisserman 2016) as used by the standard LSE-C / LSE-D evaluation.

The module layout (and so every state-dict key) matches the ``syncnet_v2.model``
file of joonson/syncnet_python, so that file loads with no missing or
unexpected keys. Two streams map their inputs to 1024-d embeddings whose
Euclidean distance is small when lips and speech agree:

* lips: ``[B, 3, 5, 224, 224]`` float, five consecutive 224x224 BGR face crops,
  pixel values 0..255 (no normalisation);
* audio: ``[B, 1, 13, 20]`` float, 13 MFCCs x 20 steps of 10 ms (0.2 s, the same
  five frames at 25 fps).
"""
from __future__ import annotations

import os

import torch
from torch import nn

from ..errors import BadInputError
from ..files.downloads import ensure_model_file

SYNCNET_FILE = "syncnet_v2.model"
SYNCNET_URL = "http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model"
SYNCNET_FOLDER = "syncnet"
EMBEDDING_SIZE = 1024


def _block(conv: nn.Module, batch_norm: nn.Module, *after: nn.Module) -> list[nn.Module]:
    """``conv -> batch norm -> ReLU`` followed by ``after`` (pooling), as one run of a Sequential."""
    return [conv, batch_norm, nn.ReLU(inplace=True), *after]


def _head(size: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, size))


def _audio_trunk() -> nn.Sequential:
    """``[B, 1, 13, 20]`` MFCC -> ``[B, 512, 1, 1]``."""
    def conv(cin: int, cout: int) -> nn.Conv2d:
        return nn.Conv2d(cin, cout, kernel_size=3, padding=1)

    return nn.Sequential(
        *_block(conv(1, 64), nn.BatchNorm2d(64), nn.MaxPool2d(kernel_size=1, stride=1)),
        *_block(conv(64, 192), nn.BatchNorm2d(192), nn.MaxPool2d(kernel_size=3, stride=(1, 2))),
        *_block(conv(192, 384), nn.BatchNorm2d(384)),
        *_block(conv(384, 256), nn.BatchNorm2d(256)),
        *_block(conv(256, 256), nn.BatchNorm2d(256), nn.MaxPool2d(kernel_size=3, stride=2)),
        *_block(nn.Conv2d(256, 512, kernel_size=(5, 4)), nn.BatchNorm2d(512)),
    )


def _lip_trunk() -> nn.Sequential:
    """``[B, 3, 5, 224, 224]`` face crops -> ``[B, 512, 1, 1, 1]``."""
    def flat(cin: int, cout: int, k: int, **kw) -> nn.Conv3d:
        return nn.Conv3d(cin, cout, kernel_size=(1, k, k), **kw)

    def pool(padding: int = 0) -> nn.MaxPool3d:
        return nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, padding, padding))

    return nn.Sequential(
        *_block(nn.Conv3d(3, 96, kernel_size=(5, 7, 7), stride=(1, 2, 2)), nn.BatchNorm3d(96), pool()),
        *_block(flat(96, 256, 5, stride=(1, 2, 2), padding=(0, 1, 1)), nn.BatchNorm3d(256), pool(1)),
        *_block(flat(256, 256, 3, padding=(0, 1, 1)), nn.BatchNorm3d(256)),
        *_block(flat(256, 256, 3, padding=(0, 1, 1)), nn.BatchNorm3d(256)),
        *_block(flat(256, 256, 3, padding=(0, 1, 1)), nn.BatchNorm3d(256), pool()),
        *_block(flat(256, 512, 6), nn.BatchNorm3d(512)),
    )


class SyncNet(nn.Module):
    """The two-stream SyncNet; attribute names are the official file's key prefixes."""

    def __init__(self, embedding_size: int = EMBEDDING_SIZE) -> None:
        super().__init__()
        self.netcnnaud = _audio_trunk()
        self.netfcaud = _head(embedding_size)
        self.netfclip = _head(embedding_size)
        self.netcnnlip = _lip_trunk()

    def embed_audio(self, mfcc: torch.Tensor) -> torch.Tensor:
        """``[B, 1, 13, 20]`` MFCC windows -> ``[B, 1024]``."""
        return self.netfcaud(self.netcnnaud(mfcc).flatten(1))

    def embed_lips(self, crops: torch.Tensor) -> torch.Tensor:
        """``[B, 3, 5, 224, 224]`` BGR 0..255 crops -> ``[B, 1024]``."""
        return self.netfclip(self.netcnnlip(crops).flatten(1))


def _unwrap(obj: object, path: str) -> dict[str, torch.Tensor]:
    """The flat tensor dict inside a loaded checkpoint (plain, nested or prefixed)."""
    for key in ("state_dict", "model", "net"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise BadInputError(f"'{path}' is not a SyncNet state dict; use the official {SYNCNET_FILE} from {SYNCNET_URL}.")
    for prefix in ("__S__.", "module."):
        if all(k.startswith(prefix) for k in obj):
            obj = {k[len(prefix):]: v for k, v in obj.items()}
    return obj


def load_syncnet(path: str | os.PathLike, device: torch.device | str = "cpu") -> SyncNet:
    """A :class:`SyncNet` in eval mode with the weights of ``path`` (read with ``weights_only=True``).

    Accepts the official file (a state dict saved by an old torch, without the
    BatchNorm ``num_batches_tracked`` counters), the same dict nested under
    ``state_dict`` or with a ``__S__.``/``module.`` prefix.

    Raises:
        BadInputError: the file is not a SyncNet state dict, or keys or shapes differ.
    """
    path = os.fspath(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same one-line advice
        raise BadInputError(
            f"cannot read SyncNet weights '{path}' ({type(exc).__name__}: {exc}); "
            f"use the official {SYNCNET_FILE} from {SYNCNET_URL}."
        ) from exc
    state = _unwrap(state, path)
    model = SyncNet()
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in state if k in expected and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        raise BadInputError(
            f"'{path}' does not match SyncNet: missing keys {missing[:3]}, unexpected keys {unexpected[:3]}, "
            f"wrong shapes {wrong[:3]}; use the official {SYNCNET_FILE} from {SYNCNET_URL}."
        )
    model.load_state_dict(state, strict=False)
    return model.to(device).eval()


def syncnet_path(models_dir: str, download: bool = False) -> str:
    """Path of ``syncnet_v2.model`` under ``models_dir/syncnet`` (or ``models_dir`` itself).

    Raises:
        MissingModelError: not there and not downloaded; names file, folder and URL.
    """
    flat = os.path.join(models_dir, SYNCNET_FILE)
    if os.path.isfile(flat):
        return flat
    return ensure_model_file(SYNCNET_FILE, os.path.join(models_dir, SYNCNET_FOLDER), SYNCNET_URL, download)
