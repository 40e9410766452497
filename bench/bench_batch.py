"""What ``batch`` saves over one ``lipsync`` process per video.

1. Wall time of 8 short clips as one ``batch`` run vs 8 separate ``lipsync`` processes, with tiny random
   models (the tests' models: the tiny UNet in the official layout, a random Whisper tiny, the tiny VAE; no
   restorer). Each process starts Python, imports torch, finds and loads the models and runs its clip; the batch
   does the first three once. The clips are cuts of the bundled sample (``--frames`` frames each, all with a
   face), the speech the sample's own sound cut to the same length.
2. The time a batch saves per row at real size: loading random-weight files of the official sizes (the
   LatentSync 1.5 UNet, 5.1 GB in float32 as released; Whisper tiny; the SD VAE; GFPGAN v1.4) the way ``lipsync``
   does (:func:`latentsync_core.run.loading.load_lipsync_models` and ``load_restorers``), then reading every
   weight once (the UNet is memory-mapped, so its file is read on first use: on a GPU the move to the card
   reads it, on the CPU the first row does). The files were just written, so they are read from the page cache:
   a cold read from disk adds its size over the disk's speed.

Run from the repository root (the real-size part writes about 5.6 GB to a temporary folder and needs about
6 GB of free memory; ``--skip-real`` leaves it out)::

    python bench/bench_batch.py [--rows 8] [--frames 16] [--skip-real]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUPPORT = os.path.join(ROOT, "tests", "support")
sys.path[:0] = [ROOT, SUPPORT]

TINY_RUN = """
import dataclasses, sys
from latentsync_core.lipsync import checkpoints, vae
from latentsync_core.lipsync.unet import LatentSyncUNetConfig
tiny = LatentSyncUNetConfig.tiny()
checkpoints.CONFIGS["1.5"] = lambda: dataclasses.replace(tiny, resolution=256)
vae.SD_VAE_CONFIG = vae.TINY_VAE_CONFIG
from latentsync_core import cli
sys.exit(cli.main(sys.argv[1:]))
"""
"""A ``python -m latentsync_core`` with the released configs swapped for the tiny ones (as the tests'
``tiny_architectures`` fixture does)."""
FAST = ["--inference_steps", "2", "--guidance_scale", "1", "--device", "cpu", "--offline", "--landmark_cache", "off",
        "--superres", "none", "--quiet"]


def command(*args: str) -> float:
    """Seconds ``python -c TINY_RUN args`` took (it must succeed)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", TINY_RUN, *args], check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    return time.perf_counter() - start


def clips(folder: str, rows: int, frames: int) -> list[tuple[str, str]]:
    """``rows`` lossless cuts of the sample with a face in every frame, and the sample's speech cut to each."""
    from lipsync_cli import SAMPLE, speech, write_lossless
    from video_files import decode_video

    sample = decode_video(SAMPLE)
    starts = [s for s in range(0, len(sample) - frames + 1, 3) if s + frames <= 45 or s >= 53][:rows]
    pairs = []
    for i, start in enumerate(starts * (rows // len(starts) + 1)):
        if i == rows:
            break
        video = write_lossless(os.path.join(folder, f"clip{i}.mkv"), sample[start:start + frames])
        pairs.append((video, speech(os.path.join(folder, f"speech{i}.wav"), frames)))
    return pairs


def tiny_batch(rows: int, frames: int) -> dict:
    from lipsync_cli import write_lipsync_models
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="bench_batch_") as folder:
        models = Path(folder) / "models"
        models.mkdir()
        write_lipsync_models(models)
        pairs = clips(folder, rows, frames)
        separate = sum(command("lipsync", "--video", v, "--audio", a, "--output", os.path.join(folder, f"alone{i}.mp4"),
                               "--models-dir", str(models), *FAST) for i, (v, a) in enumerate(pairs))
        jobs = os.path.join(folder, "jobs.csv")
        with open(jobs, "w") as file:
            file.write("video,audio\n" + "".join(f"{v},{a}\n" for v, a in pairs))
        batch = command("batch", jobs, "--output-dir", os.path.join(folder, "out"), "--models-dir", str(models), *FAST)
    return {"rows": rows, "frames": frames, "separate_s": round(separate, 1), "batch_s": round(batch, 1),
            "ratio": round(separate / batch, 2), "saved_per_row_s": round((separate - batch) / rows, 2)}


def real_size_load() -> dict:
    """Seconds to load the real-size random files as ``lipsync`` does, and to read every weight once."""
    import torch
    from safetensors.torch import save_file

    from latentsync_core.files.run_files import RunFiles
    from latentsync_core.lipsync.vae import SD_VAE_CONFIG, build_vae
    from latentsync_core.run.host import FolderHost, lipsync_dtypes
    from latentsync_core.run.loading import load_lipsync_models, load_restorers
    from unet_fixtures import reference_key_shapes, reference_weights
    from whisper_checkpoint import write_tiny_checkpoint

    with tempfile.TemporaryDirectory(prefix="bench_batch_real_") as folder:
        unet = os.path.join(folder, "latentsync", "LatentSync-1.5", "latentsync_unet.pt")
        os.makedirs(os.path.join(os.path.dirname(unet), "whisper"))
        weights = reference_weights(reference_key_shapes("full"), 0)
        torch.save({"state_dict": weights}, unet)
        del weights
        whisper = write_tiny_checkpoint(os.path.join(os.path.dirname(unet), "whisper", "tiny.pt"))
        vae = os.path.join(folder, "vae.safetensors")
        save_file(build_vae(SD_VAE_CONFIG).state_dict(), vae)
        from spandrel.architectures.GFPGAN import GFPGAN

        gfpgan = os.path.join(folder, "GFPGANv1.4.pth")
        torch.save({"params_ema": GFPGAN(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None,
                                         fix_decoder=False, num_mlp=8, input_is_latent=True, different_w=True, narrow=1,
                                         sft_half=True).state_dict()}, gfpgan)
        sizes = {name: os.path.getsize(p) for name, p in (("unet", unet), ("whisper", whisper), ("vae", vae),
                                                           ("gfpgan", gfpgan))}
        files = RunFiles(unet, whisper, vae, (gfpgan,))
        host = FolderHost(folder, False, torch.device("cpu"), True)
        times = []
        for _ in range(2):  # the second load is the one every further process would pay (files in the page cache)
            start = time.perf_counter()
            models, _ = load_lipsync_models(files, "1.5", host.device, lipsync_dtypes(host))
            restorers = load_restorers(files, host)
            loaded = time.perf_counter() - start
            with torch.no_grad():
                for module in (models.unet, models.vae, models.whisper):
                    for tensor in (*module.parameters(), *module.buffers()):
                        tensor.clone()
            times.append((loaded, time.perf_counter() - start))
            del models, restorers
    return {"file_mb": {k: round(v / 2**20) for k, v in sizes.items()}, "load_s": round(times[1][0], 2),
            "load_and_read_s": round(times[1][1], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--skip-real", action="store_true", help="leave out the real-size load")
    args = parser.parse_args()
    figures = {"tiny": tiny_batch(args.rows, args.frames), "cpus": os.cpu_count()}
    print(json.dumps(figures), flush=True)
    if not args.skip_real:
        figures["real_size"] = real_size_load()
        print(json.dumps(figures["real_size"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
