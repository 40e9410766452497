"""Peak activation memory of one forward pass (UNet, GFPGAN, CodeFormer), measured on the CPU.

Method: a ``TorchDispatchMode`` sees every tensor an operator returns during the forward pass and
counts the bytes of each new storage while it is alive (a ``weakref.finalize`` on the storage
subtracts them when it is freed); the peak of that running sum is the activation memory. Weights,
which exist before the pass, are not counted. Run under ``torch.inference_mode()`` as the sampler
does. Real-size architectures with random weights; the numbers scale with the dtype's size.

    python bench/activation_memory.py            # 1.5@256 and 1.6@512 UNet (1 and 2 frames), restorers
    python bench/activation_memory.py --only restorers

The figures it printed are the constants of ``latentsync_core/lipsync/memory.py`` and
``latentsync_core/restorers/loading.py`` (see the README, "GPU memory and dtypes").
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from latentsync_core.lipsync.unet import LatentSyncUNetConfig, build_unet  # noqa: E402

MIB = 2**20


class PeakLiveBytes(TorchDispatchMode):
    """Running sum of the bytes of storages created inside the mode and still alive; ``peak`` is its maximum."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._seen: set[int] = set()

    def _freed(self, nbytes: int, key: int) -> None:
        self.live -= nbytes
        self._seen.discard(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if not isinstance(tensor, torch.Tensor):
                continue
            storage = tensor.untyped_storage()
            key = storage.data_ptr()
            if key in self._seen:
                continue
            self._seen.add(key)
            self.live += storage.nbytes()
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._freed, storage.nbytes(), key)
        return out


def peak_bytes(run) -> int:
    meter = PeakLiveBytes()
    with torch.inference_mode(), meter:
        run()
    return meter.peak


def unet_peak(config: LatentSyncUNetConfig, resolution: int, frames: int, batch: int = 2) -> int:
    """Peak activation bytes of one float32 UNet call on ``frames`` frames, ``batch`` = 2 with guidance."""
    unet = build_unet(config)
    latent = resolution // 8
    sample = torch.zeros(batch, 13, frames, latent, latent)
    audio = torch.zeros(batch * frames, 50, 384)
    return peak_bytes(lambda: unet(sample, torch.tensor(500), encoder_hidden_states=audio))


def restorer_peak(arch: str, faces: int) -> int:
    """Peak activation bytes of one float32 GFPGAN / CodeFormer call on ``faces`` 512 px faces."""
    if arch == "GFPGAN":
        from spandrel.architectures.GFPGAN import GFPGAN as Net
    else:
        from spandrel_extra_arches.architectures.CodeFormer import CodeFormer as Net
    net = Net().eval()
    x = torch.zeros(faces, 3, 512, 512)
    return peak_bytes(lambda: net(x))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["unet", "restorers"], default=None)
    args = parser.parse_args()
    if args.only in (None, "unet"):
        for name, resolution in (("v15", 256), ("v16", 512)):
            config = getattr(LatentSyncUNetConfig, name)()
            for frames in (1, 2):
                start = time.perf_counter()
                peak = unet_peak(config, resolution, frames)
                print(f"unet {name}@{resolution} fp32 guidance batch 2, {frames} frame(s): {peak / MIB:.1f} MiB "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
    if args.only in (None, "restorers"):
        for arch in ("GFPGAN", "CodeFormer"):
            print(f"{arch} fp32 512 px, 1 face: {restorer_peak(arch, 1) / MIB:.1f} MiB", flush=True)


if __name__ == "__main__":
    main()
