"""Print ms per 512x512 face for GFPGAN and CodeFormer (random weights) in fp32 and bf16.

Usage: python bench/bench_restorers.py [--device cpu|cuda] [--threads N] [--faces N] [--batch N]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from latentsync_core.restorers import CODEFORMER, GFPGAN, restorer_from_state_dict  # noqa: E402


def _random_state_dict(arch: str) -> dict[str, torch.Tensor]:
    """The architecture's own random init, as spandrel builds it for the official files."""
    if arch == GFPGAN:
        from spandrel.architectures.GFPGAN import GFPGAN as Net
    else:
        from spandrel_extra_arches.architectures.CodeFormer import CodeFormer as Net
    torch.manual_seed(0)
    return Net().state_dict()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--faces", type=int, default=2, help="timed faces per configuration")
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    faces = torch.rand(args.faces, 3, 512, 512, generator=torch.Generator().manual_seed(0))
    for arch in (GFPGAN, CODEFORMER):
        restorer = restorer_from_state_dict(_random_state_dict(arch), name=arch)
        for dtype in (torch.float32, torch.bfloat16):
            restorer.to(device=device, dtype=dtype)
            restorer.restore(faces[:1])  # warm-up
            _sync(device)
            start = time.perf_counter()
            restorer.restore(faces, batch_size=args.batch)
            _sync(device)
            ms = (time.perf_counter() - start) * 1000 / args.faces
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{arch:10s} {str(dtype).removeprefix('torch.'):8s} {ms:8.0f} ms/face   peak RSS so far {peak_mb:.0f} MB")
        del restorer


if __name__ == "__main__":
    main()
