"""Sampler benchmarks: VAE speed and sampler peak memory against frame count.

1. VAE encode/decode in ms per frame: the sd-vae-ft-mse architecture (random weights),
   256 px faces, a few frames per call, on the chosen device.
2. Peak RSS of ``sample_video`` for 16 and 64 frames (tiny LatentSync UNet, tiny VAE,
   256 px, chunk 16), each in a fresh subprocess: the peak above the process's size after
   building its inputs should not grow with the frame count beyond the output itself.

Run: ``python bench/bench_sampler.py [--device cuda] [--threads N]``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_vae(device: torch.device, frames: int, repeats: int, dtype: torch.dtype) -> dict:
    from latentsync_core.lipsync.sampler import decode, encode
    from latentsync_core.lipsync.vae import SD_VAE_CONFIG, build_vae

    vae = build_vae(SD_VAE_CONFIG, device=device, dtype=dtype)
    gen = torch.Generator(device=device).manual_seed(0)
    pixels = torch.rand((frames, 3, 256, 256), generator=gen, device=device, dtype=dtype) * 2 - 1
    with torch.inference_mode():
        latents = encode(vae, pixels, gen)  # warm-up
        decode(vae, latents)
        _sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(repeats):
            latents = encode(vae, pixels, gen)
        _sync(device)
        t1, c1 = time.perf_counter(), time.process_time()
        for _ in range(repeats):
            decode(vae, latents)
        _sync(device)
        t2, c2 = time.perf_counter(), time.process_time()
    per = 1000.0 / (frames * repeats)
    return {
        "encode_ms_per_frame": (t1 - t0) * per,
        "decode_ms_per_frame": (t2 - t1) * per,
        "encode_cpu_ms_per_frame": (c1 - c0) * per,
        "decode_cpu_ms_per_frame": (c2 - c1) * per,
    }


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_child(frames: int, steps: int, device: str) -> dict:
    """Run in a subprocess: sample ``frames`` frames, report RSS figures in MiB."""
    import numpy as np

    from latentsync_core.lipsync.sampler import SamplerSettings, sample_video
    from latentsync_core.lipsync.unet import LatentSyncUNetConfig, build_unet
    from latentsync_core.lipsync.vae import TINY_VAE_CONFIG, build_vae

    torch.manual_seed(0)
    unet = build_unet(LatentSyncUNetConfig.tiny(), device=device)
    vae = build_vae(TINY_VAE_CONFIG, device=device)
    gen = torch.Generator().manual_seed(1)
    faces = torch.rand((frames, 256, 256, 3), generator=gen)
    embeds = torch.randn((frames, 50, 384), generator=gen)
    before = _current_rss_mib()
    t0 = time.perf_counter()
    out = sample_video(unet, vae, faces, embeds, np.ones(frames, bool), SamplerSettings(steps=steps, chunk_size=16), device=device)
    seconds = time.perf_counter() - t0
    peak = _max_rss_mib()
    return {
        "frames": frames,
        "rss_before_mib": before,
        "peak_rss_mib": peak,
        "peak_above_before_mib": peak - before,
        "output_mib": out.numel() * out.element_size() / 2**20,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--vae-frames", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--only", choices=["vae", "rss"], help="run one of the two benchmarks")
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.rss_child:
        print(json.dumps(rss_child(args.rss_child, args.steps, args.device)))
        return

    device = torch.device(args.device)
    print(f"torch {torch.__version__}, device {device}, threads {args.threads}")
    for dtype in ([torch.float32, torch.float16] if device.type == "cuda" else [torch.float32]):
        if args.only == "rss":
            break
        r = bench_vae(device, args.vae_frames, args.repeats, dtype)
        print(f"VAE sd-vae-ft-mse 256 px {str(dtype):14s} encode {r['encode_ms_per_frame']:8.1f} ms/frame "
              f"(CPU time {r['encode_cpu_ms_per_frame']:.1f}), decode {r['decode_ms_per_frame']:8.1f} ms/frame "
              f"(CPU time {r['decode_cpu_ms_per_frame']:.1f}); {args.vae_frames} frames per call")
    for frames in (16, 64) if args.only != "vae" else ():
        cmd = [sys.executable, os.path.abspath(__file__), "--rss-child", str(frames), "--steps", str(args.steps),
               "--device", args.device, "--threads", str(args.threads)]
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        print(f"sampler {frames:3d} frames (tiny UNet, tiny VAE, 256 px, chunk 16, {args.steps} steps): "
              f"peak RSS {r['peak_rss_mib']:.0f} MiB, {r['peak_above_before_mib']:.0f} MiB above the inputs "
              f"(output itself {r['output_mib']:.0f} MiB), {r['seconds']:.1f} s")


if __name__ == "__main__":
    main()
