"""GPU check: speed, peak VRAM and half-precision error of the sampler and restorers, random weights.

For LatentSync 1.5 @ 256 px and 1.6 @ 512 px at real size (``--tiny``: the tiny UNet and VAE at 64 px,
2 steps, 4 frames, so it runs on a CPU in seconds and a quick test keeps it working), it prints:

* seconds of compute per second of output video (25 fps; 20 DDIM steps, guidance 1.5, 16-frame chunks),
  without and with DeepCache, in fp32, fp16 and bf16 (bf16 only where the GPU runs it natively);
* peak VRAM of each run (``torch.cuda.max_memory_allocated``; "n/a" on the CPU);
* max |fp16 - fp32| and |bf16 - fp32| of the decoded faces (values in [0, 1]);
* GFPGAN and CodeFormer milliseconds per 512 px face (fp32 and bf16 where native; ``--tiny``: a narrow
  GFPGAN at 64 px);
* with ``--comfyui PATH``: the fp16 run again with the models under ComfyUI's model management
  started as ``--lowvram``, loaded as the nodes load them (``nodes/host.py:load_fully`` with the
  ``memory_required`` estimate).

GPU use: one device (``--device``, default ``cuda`` when present), one model at a time, freed between
configurations; about 5 GB of weights for 1.6 in fp32 plus activations. Expected to take well under 5
minutes on one recent GPU. ``python bench/gpu_check.py [--tiny] [--device cpu] [--comfyui /path/to/ComfyUI]``
"""
from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from latentsync_core.lipsync.dtypes import bf16_native  # noqa: E402
from latentsync_core.lipsync.memory import sampler_activation_bytes  # noqa: E402
from latentsync_core.lipsync.sampler import SamplerSettings, sample_video  # noqa: E402
from latentsync_core.lipsync.unet import LatentSyncUNetConfig, build_unet  # noqa: E402
from latentsync_core.lipsync.vae import SD_VAE_CONFIG, TINY_VAE_CONFIG, build_vae  # noqa: E402
from latentsync_core.run.options import DEEP_CACHE_INTERVAL  # noqa: E402

FPS = 25.0
PACK = "comfyui_latentsync"


@dataclass(frozen=True)
class Case:
    name: str
    config: LatentSyncUNetConfig
    vae_config: dict
    resolution: int
    frames: int
    steps: int


def cases(tiny: bool) -> list[Case]:
    if tiny:
        return [Case("tiny@64", LatentSyncUNetConfig.tiny(), TINY_VAE_CONFIG, 64, 4, 2)]
    return [Case("1.5@256", LatentSyncUNetConfig.v15(), SD_VAE_CONFIG, 256, 16, 20),
            Case("1.6@512", LatentSyncUNetConfig.v16(), SD_VAE_CONFIG, 512, 16, 20)]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak(device: torch.device) -> str:
    return f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB" if device.type == "cuda" else "n/a"


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def run_sampler(case: Case, unet, vae, device, dtype, deep_cache: bool) -> tuple[torch.Tensor, float]:
    gen = torch.Generator().manual_seed(0)
    faces = torch.rand((case.frames, case.resolution, case.resolution, 3), generator=gen)
    audio = torch.randn((case.frames, 50, 384), generator=gen)
    settings = SamplerSettings(steps=case.steps, guidance_scale=1.5, seed=1, chunk_size=16,
                               deep_cache_interval=DEEP_CACHE_INTERVAL if deep_cache else 0)
    _sync(device)
    start = time.perf_counter()
    out = sample_video(unet, vae, faces, audio, settings=settings, device=device, dtype=dtype)
    _sync(device)
    return out, time.perf_counter() - start


def dtypes_for(device: torch.device) -> list[torch.dtype]:
    out = [torch.float32, torch.float16]
    return out + [torch.bfloat16] if device.type != "cuda" or bf16_native(device) else out


def check_sampler(case: Case, device: torch.device) -> None:
    torch.manual_seed(0)
    vae = build_vae(case.vae_config, device=device)
    reference = None
    for dtype in dtypes_for(device):
        torch.manual_seed(1)  # the same random weights in every dtype
        unet = build_unet(case.config, device=device, dtype=dtype)
        for deep_cache in (False, True):
            _reset_peak(device)
            out, seconds = run_sampler(case, unet, vae, device, dtype, deep_cache)
            line = (f"{case.name} {str(dtype)[6:]:8s} deepcache={'on ' if deep_cache else 'off'} "
                    f"{seconds / (case.frames / FPS):7.2f} s per output second, peak VRAM {_peak(device)}")
            if not deep_cache:
                if dtype == torch.float32:
                    reference = out
                else:
                    line += f", max |diff| vs fp32 {float((out - reference).abs().max()):.4f}"
            print(line, flush=True)
        del unet
        gc.collect()
    del vae


def restorer_builds(tiny: bool) -> list[tuple[str, int, Callable[[], torch.nn.Module]]]:
    """(name, face size, constructor): the real GFPGAN v1.4 and CodeFormer at 512 px; tiny: a narrow GFPGAN
    at 64 px only (CodeFormer's VQ autoencoder is fixed at 512 px and takes a minute on a CPU)."""
    from spandrel.architectures.GFPGAN import GFPGAN

    if tiny:
        return [("GFPGAN-tiny", 64, lambda: GFPGAN(out_size=64, num_style_feat=64, channel_multiplier=1, narrow=0.25))]
    from spandrel_extra_arches.architectures.CodeFormer import CodeFormer

    return [("GFPGAN", 512, GFPGAN), ("CodeFormer", 512, CodeFormer)]


def check_restorers(device: torch.device, faces: int, tiny: bool) -> None:
    for name, size, build in restorer_builds(tiny):
        net = build().eval().to(device)
        for dtype in [torch.float32] + ([torch.bfloat16] if device.type == "cuda" and bf16_native(device) else []):
            net = net.to(dtype)
            x = torch.rand((faces, 3, size, size), device=device, dtype=dtype) * 2 - 1
            with torch.inference_mode():
                net(x[:1])  # warm-up: first-call costs (cuDNN autotuning, allocator) out of the timing
                _sync(device)
                start = time.perf_counter()
                net(x)
                _sync(device)
            ms = (time.perf_counter() - start) * 1000 / faces
            print(f"{name} {str(dtype)[6:]:8s} {ms:8.1f} ms per {size} px face", flush=True)
        del net
        gc.collect()


def _pack_patcher_module():
    """The pack's ``nodes/host.py``, with the pack imported as ComfyUI imports it (a package)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location(PACK, os.path.join(root, "__init__.py"), submodule_search_locations=[root])
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACK] = package
    spec.loader.exec_module(package)
    return importlib.import_module(f"{PACK}.nodes.host")


def check_comfyui_lowvram(case: Case, comfyui_path: str, device: torch.device) -> None:
    """The fp16 sampler with its models loaded as the nodes load them, by ComfyUI started ``--lowvram``."""
    sys.path.insert(0, comfyui_path)
    from comfy.cli_args import args

    args.lowvram = True
    args.cpu = device.type == "cpu"
    import comfy.model_management as mm
    from comfy.model_patcher import ModelPatcher

    patcher = _pack_patcher_module()
    dtype = torch.float16
    load, offload = mm.get_torch_device(), torch.device("cpu")
    unet = build_unet(case.config, dtype=dtype)
    vae = build_vae(case.vae_config)
    patchers = [ModelPatcher(patcher.PatcherHost(m), load_device=load, offload_device=offload) for m in (unet, vae)]
    memory = sampler_activation_bytes(case.resolution, case.frames, dtype, guidance=True)
    patcher.load_fully(patchers, memory)
    _reset_peak(load)
    _, seconds = run_sampler(case, unet, vae, load, dtype, deep_cache=False)
    print(f"{case.name} float16 ComfyUI --lowvram {seconds / (case.frames / FPS):7.2f} s per output second, "
          f"peak VRAM {_peak(load)}, memory_required {memory / 2**20:.0f} MiB", flush=True)
    mm.unload_all_models()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny models at 64 px, 2 steps (CPU smoke run)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--comfyui", default=None, help="ComfyUI checkout: also run under its --lowvram management")
    parser.add_argument("--restorer-faces", type=int, default=None, help="faces per restorer call (default 8, tiny 1)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    print(f"device {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    for case in cases(args.tiny):
        check_sampler(case, device)
    check_restorers(device, args.restorer_faces or (1 if args.tiny else 8), args.tiny)
    if args.comfyui:
        for case in cases(args.tiny):
            check_comfyui_lowvram(case, args.comfyui, device)


if __name__ == "__main__":
    main()
