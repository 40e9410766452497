"""LatentSync sampler throughput: frames/s and peak memory for 1.5 @ 256 px and 1.6 @ 512 px.

Usage (on a GPU): ``python bench/bench_throughput.py --device cuda --dtypes fp16 bf16``
On a CPU, ``--config tiny --frames 4 --steps 2`` checks that the script runs (numbers are
then meaningless for the real models).

Real architecture (or the tiny test config), default random initialisation (speed does not
depend on the weights), 20 DDIM steps, guidance 1.5, chunks of 16, the SD VAE. Reports
frames/s of the whole sampler (VAE encode + denoising + decode) and the peak device memory
(``torch.cuda.max_memory_allocated``; peak RSS on CPU).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from latentsync_core.lipsync.sampler import SamplerSettings, sample_video  # noqa: E402
from latentsync_core.lipsync.unet import LatentSyncUNetConfig, build_unet  # noqa: E402
from latentsync_core.lipsync.vae import SD_VAE_CONFIG, TINY_VAE_CONFIG, build_vae  # noqa: E402

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
VERSIONS = {"1.5": (LatentSyncUNetConfig.v15, 256), "1.6": (LatentSyncUNetConfig.v16, 512)}


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(version: str, dtype: torch.dtype, args: argparse.Namespace, device: torch.device) -> None:
    make_config, res = VERSIONS[version]
    config = LatentSyncUNetConfig.tiny() if args.config == "tiny" else make_config()
    unet = build_unet(config, device=device, dtype=dtype).eval()
    vae = build_vae(TINY_VAE_CONFIG if args.config == "tiny" else SD_VAE_CONFIG, device=device, dtype=dtype).eval()
    faces = torch.rand(args.frames, res, res, 3)
    embeddings = torch.randn(args.frames, 50, 384)
    settings = SamplerSettings(steps=args.steps, chunk_size=args.chunk)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    with torch.inference_mode():
        sample_video(unet, vae, faces, embeddings, settings=settings, device=device, dtype=dtype)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    print(
        f"LatentSync {version} @ {res} px {args.config:>4} {str(dtype).split('.')[-1]:>8}: "
        f"{args.frames / seconds:7.3f} frames/s ({seconds:.1f} s for {args.frames} frames, {args.steps} steps), "
        f"peak {'VRAM' if device.type == 'cuda' else 'RSS'} {peak_memory_mib(device):,.0f} MiB"
    )
    del unet, vae
    if device.type == "cuda":
        torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtypes", nargs="+", choices=sorted(DTYPES), default=["fp16", "bf16"])
    parser.add_argument("--versions", nargs="+", choices=sorted(VERSIONS), default=sorted(VERSIONS))
    parser.add_argument("--config", choices=["real", "tiny"], default="real")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--chunk", type=int, default=16)
    args = parser.parse_args()
    device = torch.device(args.device)
    for version in args.versions:
        for name in args.dtypes:
            run(version, DTYPES[name], args, device)


if __name__ == "__main__":
    main()
