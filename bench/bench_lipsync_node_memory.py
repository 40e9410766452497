"""Peak memory of a ComfyUI server running the streaming node on a short and a 10x longer video.

``LatentSync Lip-Sync Video (long videos)`` reads the video in windows and writes its result to a
file, so the peak resident memory of the ComfyUI process should not grow with the length of the
video (goal: the long clip within 20 % of the short one). For each length the script starts a
ComfyUI server of its own (``COMFYUI_PATH``, run by ``COMFYUI_PYTHON``, on the CPU) with
random-weight models in the official layout (``tests/integration/random_models.py``): the tiny
LatentSync UNet, standing in for 1.5 through the tests' sitecustomize, a random Whisper tiny and
the VAE at the real sd-vae-ft-mse size (``--vae real``, default) or the tests' tiny VAE
(``--vae tiny``: ``TINY_VAE_CONFIG``, built at that size by both ComfyUI's VAE and the pack's check
through :data:`TINY_VAE_SITECUSTOMIZE`; the real size costs about 48 s per frame on a 2-core CPU).
It writes a 25 fps clip of the astronaut panning slowly (``bench_enhance_memory.write_clip``: every
frame has a face) and a tone as long as the clip, and queues Load Video + Load Audio + LatentSync
Model Loader -> the streaming node (``length_mode`` trim: every source frame is sampled once) ->
Save Video through ``POST /prompt``. It prints the server's peak RSS once started (``VmHWM`` of its
process) and after the run, the time of the run and the ratio of the peaks after the runs.

Run from the repository root::

    COMFYUI_PATH=... COMFYUI_PYTHON=... python bench/bench_lipsync_node_memory.py \\
        [--frames 150 1500] [--size 1280x720] [--steps 1] [--guidance 1.5] [--window 32] [--vae real|tiny]
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
import wave
from collections.abc import Mapping

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INTEGRATION = os.path.join(ROOT, "tests", "integration")
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests", "support"), INTEGRATION]

from bench_enhance_memory import write_clip  # noqa: E402 (bench/ is the script's folder)
from comfyui_client import ComfyUIClient, ComfyUIServer, Graph, make_base_dir  # noqa: E402
from random_models import TINY_UNET_SITECUSTOMIZE, VAE_FILE, write_latentsync_models  # noqa: E402

from latentsync_core.lipsync.vae import TINY_VAE_CONFIG  # noqa: E402

TINY_VAE_SITECUSTOMIZE = '''
"""Added by bench/bench_lipsync_node_memory.py --vae tiny, for its own ComfyUI server only.

Builds the SD VAE at the tests' tiny size wherever it is built: ComfyUI's Encoder and Decoder
(comfy.ldm.modules.diffusionmodules.model, channels {ch} x {ch_mult}, {layers} layer(s) per block,
{groups} norm groups) and the pack's check of the file (latentsync_core.lipsync.vae.SD_VAE_CONFIG).
"""


def _tiny_comfy_vae(module):
    module.Normalize.__defaults__ = ({groups},)  # its num_groups, also where it is a default argument
    for name in ("Encoder", "Decoder"):
        base = getattr(module, name)

        def __init__(self, *args, _base=base, **kwargs):
            _base.__init__(self, *args, **dict(kwargs, ch={ch}, ch_mult={ch_mult}, num_res_blocks={layers}))

        setattr(module, name, type(name, (base,), {{"__init__": __init__}}))


def _tiny_pack_vae(module):
    module.SD_VAE_CONFIG = module.TINY_VAE_CONFIG


class _AfterImport(importlib.abc.MetaPathFinder):
    """Calls ``patch(module)`` once the first module whose name ends with ``suffix`` has run."""

    def __init__(self, suffix, patch):
        self.suffix, self.patch = suffix, patch

    def find_spec(self, name, path, target=None):
        if not name.endswith(self.suffix):
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            self.patch(module)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path[:0] = [_AfterImport("comfy.ldm.modules.diffusionmodules.model", _tiny_comfy_vae),
                     _AfterImport("latentsync_core.lipsync.vae", _tiny_pack_vae)]
'''
"""Appended to :data:`TINY_UNET_SITECUSTOMIZE` (whose imports it uses) for ``--vae tiny``; formatted by
:func:`sitecustomize` with the sizes of ``TINY_VAE_CONFIG``."""


def sitecustomize(vae_config: Mapping | None) -> str:
    """The server's ``sitecustomize.py``: the tiny UNet, and with ``vae_config`` a VAE of that (diffusers) config."""
    if vae_config is None:
        return TINY_UNET_SITECUSTOMIZE
    channels = list(vae_config["block_out_channels"])
    return TINY_UNET_SITECUSTOMIZE + TINY_VAE_SITECUSTOMIZE.format(
        ch=channels[0], ch_mult=[c // channels[0] for c in channels], layers=vae_config["layers_per_block"],
        groups=vae_config["norm_num_groups"])


def write_tone(path: str, seconds: float, rate: int = 16000) -> None:
    """A 220 Hz tone opened and closed four times a second, mono 16-bit."""
    t = np.arange(int(seconds * rate)) / rate
    samples = 0.2 * np.sin(2 * math.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * math.pi * 4 * t))
    with wave.open(path, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((samples * 32767).astype("<i2").tobytes())


def peak_rss(pid: int) -> int:
    """``VmHWM`` (peak resident set) of a process, in bytes."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def run_one(frames: int, width: int, height: int, args: argparse.Namespace, models: str,
            vae_config: Mapping | None) -> tuple[int, int, float]:
    """A fresh server lip-syncs a ``frames``-frame clip: its peak RSS once started and after the run, and the run's seconds."""
    with tempfile.TemporaryDirectory(prefix="bench_node_") as base:
        make_base_dir(base, ROOT)
        os.rmdir(os.path.join(base, "models"))
        os.symlink(models, os.path.join(base, "models"))
        site = os.path.join(base, "site")
        os.makedirs(site)
        with open(os.path.join(site, "sitecustomize.py"), "w", encoding="utf-8") as f:
            f.write(sitecustomize(vae_config))
        write_clip(os.path.join(base, "input", "clip.mp4"), frames, width, height)
        write_tone(os.path.join(base, "input", "tone.wav"), frames / 25)
        server = ComfyUIServer(os.environ["COMFYUI_PATH"], os.environ.get("COMFYUI_PYTHON", sys.executable), base,
                               os.path.join(tempfile.gettempdir(), "comfyui-latentsync-pycache"))
        python_path = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (site, python_path) if p)
        try:
            server.start(timeout=600)
        finally:
            if python_path is None:
                del os.environ["PYTHONPATH"]
            else:
                os.environ["PYTHONPATH"] = python_path
        try:
            started = peak_rss(server.process.pid)
            client = ComfyUIClient(server)
            g = Graph(client.object_info())
            video = g.add("LoadVideo", file="clip.mp4")
            audio = g.add("LoadAudio", audio="tone.wav")
            loader = g.add("LatentSync_ModelLoader", version="1.5", unet_name="LatentSync-1.5/latentsync_unet.pt",
                           vae_name=VAE_FILE)
            job = g.add("LatentSync_LipSyncVideo", video=video[0], audio=audio[0], model=loader[0], whisper=loader[1],
                        vae=loader[2], steps=args.steps, guidance=args.guidance, length_mode="trim", window=args.window)
            g.add("SaveVideo", video=job[0], filename_prefix="bench")
            start = time.perf_counter()
            client.run(g.prompt, timeout=24 * 3600)
            seconds = time.perf_counter() - start
            return started, peak_rss(server.process.pid), seconds
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, nargs=2, default=[150, 1500])
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT")
    parser.add_argument("--steps", type=int, default=1, help="DDIM steps per chunk")
    parser.add_argument("--guidance", type=float, default=1.5, help="1 skips the zero-audio branch (half the UNet work)")
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--vae", choices=["real", "tiny"], default="real")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    vae_config = TINY_VAE_CONFIG if args.vae == "tiny" else None
    print(f"streaming node in ComfyUI, tiny UNet, {args.vae} VAE, {args.steps} step(s), guidance {args.guidance}, "
          f"window {args.window}, CPU, {width}x{height}", flush=True)
    peaks = []
    with tempfile.TemporaryDirectory(prefix="bench_models_") as models:
        write_latentsync_models(models, vae_config=vae_config)
        for n in args.frames:
            started, peak, seconds = run_one(n, width, height, args, models, vae_config)
            peaks.append(peak)
            print(f"{n:5d} frames: server peak RSS {peak / 2**20:7.1f} MiB (started: {started / 2**20:.1f} MiB), "
                  f"{seconds:7.1f} s ({n / seconds:.2f} frames/s)", flush=True)
    print(f"ratio {args.frames[1]}/{args.frames[0]} frames: peak RSS x{peaks[1] / peaks[0]:.3f} (goal <= 1.20)")


if __name__ == "__main__":
    main()
