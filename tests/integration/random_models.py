"""Seeded random-weight model files in the official layouts, for the workflows run in a real ComfyUI.

* ``latentsync/LatentSync-<v>/latentsync_unet.pt``: the tiny LatentSync UNet (reference key names,
  ``tests/support/unet_fixtures.py``) as ``{"state_dict": ...}``; a test server maps both versions to the
  tiny architecture (:data:`TINY_UNET_SITECUSTOMIZE`);
* ``latentsync/LatentSync-<v>/whisper/tiny.pt``: a random Whisper tiny in OpenAI's layout;
* ``vae/vae-ft-mse-840000-ema-pruned.safetensors``: a full-size SD 1.x VAE (84 M parameters) in the
  LDM key layout;
* ``facerestore_models/GFPGANv1.4.pth`` and ``codeformer.pth``: GFPGAN v1.4 and CodeFormer with the
  official keys and shapes as ``{"params_ema": state_dict}`` (about 0.7 GB together).

Random weights make the outputs nonsense, which makes every change visible; they say nothing
about quality.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pytest
import torch

from comfyui_client import ComfyUIServer, make_base_dir

VAE_FILE = "vae-ft-mse-840000-ema-pruned.safetensors"
GFPGAN_FILE = "GFPGANv1.4.pth"
CODEFORMER_FILE = "codeformer.pth"

TINY_UNET_SITECUSTOMIZE = '''"""Written by the ComfyUI integration tests for their own ComfyUI server only.

Maps LatentSync versions 1.5 and 1.6 to the tiny test UNet architecture (with their face sizes,
256 and 512) in latentsync_core.lipsync.checkpoints.CONFIGS as soon as that module is imported.
"""
import dataclasses
import functools
import importlib.abc
import importlib.machinery
import sys


def tiny(config_class, resolution):
    """The tiny architecture, for the face size of the version it stands in for."""
    return dataclasses.replace(config_class.tiny(), resolution=resolution)


class _TinyUNetConfig(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if not name.endswith("latentsync_core.lipsync.checkpoints"):
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            unet = sys.modules[module.__name__.rsplit(".", 1)[0] + ".unet"]
            for version, resolution in (("1.5", 256), ("1.6", 512)):
                module.CONFIGS[version] = functools.partial(tiny, unet.LatentSyncUNetConfig, resolution)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _TinyUNetConfig())
'''
"""A ``sitecustomize.py`` for a test server: the loader builds its UNet from the release architecture
of the version the folder names, and a tiny file does not fit it. The pack has no switch for that, on
purpose (users must not load a checkpoint against another architecture); ``tests/nodes/test_loader_node.py``
makes the same swap in-process with monkeypatch. Everything else is the real thing."""


def write_latentsync_models(models: str, versions: tuple[str, ...] = ("1.5",), vae_config: Mapping | None = None) -> None:
    """The tiny UNet and Whisper for each version, and the SD VAE, under the ComfyUI ``models`` folder.

    ``vae_config`` (default: the real sd-vae-ft-mse size) sets the VAE's architecture; the file keeps
    the official name and LDM key layout either way.
    """
    from safetensors.torch import save_file

    from latentsync_core.lipsync.vae import SD_VAE_CONFIG, build_vae
    from sampler_fixtures import seeded_weights
    from unet_fixtures import reference_key_shapes, reference_weights
    from vae_layouts import ldm_state_dict
    from whisper_checkpoint import write_tiny_checkpoint

    unet = {"state_dict": reference_weights(reference_key_shapes("tiny"), 17)}
    for version in versions:
        folder = os.path.join(models, "latentsync", f"LatentSync-{version}")
        os.makedirs(os.path.join(folder, "whisper"))
        torch.save(unet, os.path.join(folder, "latentsync_unet.pt"))
        write_tiny_checkpoint(os.path.join(folder, "whisper", "tiny.pt"), seed=17)
    vae = build_vae(vae_config or SD_VAE_CONFIG, device="meta")
    shapes = {k: tuple(v.shape) for k, v in vae.state_dict().items()}
    vae.load_state_dict(seeded_weights(shapes, 17), strict=True, assign=True)
    os.makedirs(os.path.join(models, "vae"), exist_ok=True)
    save_file({k: v.contiguous() for k, v in ldm_state_dict(vae).items()}, os.path.join(models, "vae", VAE_FILE))


def write_restorers(models: str) -> list[str]:
    """GFPGAN v1.4 and CodeFormer under ``models/facerestore_models``; returns their paths."""
    from spandrel.architectures.GFPGAN import GFPGAN as GFPGANNet
    from spandrel_extra_arches.architectures.CodeFormer import CodeFormer as CodeFormerNet
    from restorer_weights import CODEFORMER_SEED, GFPGAN_SEED, seeded_state_dict

    folder = os.path.join(models, "facerestore_models")
    os.makedirs(folder, exist_ok=True)
    paths = []
    for name, net_class, seed in ((GFPGAN_FILE, GFPGANNet, GFPGAN_SEED), (CODEFORMER_FILE, CodeFormerNet, CODEFORMER_SEED)):
        with torch.device("meta"):
            shapes = {key: tuple(value.shape) for key, value in net_class().state_dict().items()}
        paths.append(os.path.join(folder, name))
        torch.save({"params_ema": seeded_state_dict(shapes, seed)}, paths[-1])
    return paths


@contextmanager
def tiny_model_server(base: str, pack_dir: str, flags: tuple[str, ...] = (), restorers: bool = True) -> Iterator[ComfyUIServer]:
    """A ComfyUI server of its own under ``base`` with the pack at ``pack_dir``, started with ``flags``, the random
    models and the tiny-UNet sitecustomize; the 0.4-1.1 GB of random weights are deleted when it stops."""
    make_base_dir(base, pack_dir)
    write_latentsync_models(os.path.join(base, "models"), versions=("1.5", "1.6"))
    if restorers:
        write_restorers(os.path.join(base, "models"))
    site = os.path.join(base, "test_site")
    os.makedirs(site)
    with open(os.path.join(site, "sitecustomize.py"), "w", encoding="utf-8") as f:
        f.write(TINY_UNET_SITECUSTOMIZE)
    server = ComfyUIServer(
        comfyui_path=os.path.abspath(os.environ["COMFYUI_PATH"]),
        python=os.environ.get("COMFYUI_PYTHON", sys.executable),
        base=base,
        pycache_dir=os.environ.get("COMFYUI_PYCACHE", os.path.join(tempfile.gettempdir(), "comfyui-latentsync-pycache")),
        extra_args=flags,
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYTHONPATH", os.pathsep.join(p for p in (site, os.environ.get("PYTHONPATH")) if p))
        server.start(timeout=float(os.environ.get("COMFYUI_START_TIMEOUT", "300")))
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(os.path.join(base, "models"), ignore_errors=True)
