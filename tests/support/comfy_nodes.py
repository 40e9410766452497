"""In-process access to the pack's ComfyUI nodes, for the opt-in node tests (set COMFYUI_PATH).

The pack is loaded the way ComfyUI loads it: its folder as one package (here named
``comfyui_latentsync``), so ``nodes/`` reaches the core by relative imports. Objects that cross
the node boundary (errors, alignments, ROIs) must come from that package's core: :func:`core`.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import pytest
import torch

from repo_paths import ROOT

COMFYUI_PATH = os.environ.get("COMFYUI_PATH")
requires_comfyui = [pytest.mark.comfyui, pytest.mark.skipif(not COMFYUI_PATH, reason="set COMFYUI_PATH to a ComfyUI checkout")]


def import_comfy() -> ModuleType:
    """Put ComfyUI first on ``sys.path`` (CPU mode without CUDA) and import ``comfy.sd``."""
    # ComfyUI's ``comfy`` is a namespace package: drop path entries that hold another ``comfy`` package.
    shadowing = [p for p in sys.path if os.path.isfile(os.path.join(p or ".", "comfy", "__init__.py"))]
    sys.path[:] = [COMFYUI_PATH] + [p for p in sys.path if p not in shadowing and p != COMFYUI_PATH]
    from comfy.cli_args import args

    if not torch.cuda.is_available():
        args.cpu = True
    import comfy.sd

    return comfy


PACK = "comfyui_latentsync"


def _pack() -> ModuleType:
    """The pack folder imported as the package :data:`PACK`, as ComfyUI's custom-node loader does."""
    import_comfy()
    if PACK not in sys.modules:
        spec = importlib.util.spec_from_file_location(PACK, os.path.join(ROOT, "__init__.py"), submodule_search_locations=[ROOT])
        package = importlib.util.module_from_spec(spec)
        sys.modules[PACK] = package
        spec.loader.exec_module(package)
        importlib.import_module(f"{PACK}.nodes.host").register_model_folders()
    return sys.modules[PACK]


def node_module(name: str) -> ModuleType:
    """``nodes/<name>.py`` of the pack, imported as ``comfyui_latentsync.nodes.<name>``."""
    _pack()
    return importlib.import_module(f"{PACK}.nodes.{name}")


def core(name: str) -> ModuleType:
    """``latentsync_core.<name>`` as the pack's nodes see it (``comfyui_latentsync.latentsync_core.<name>``)."""
    _pack()
    return importlib.import_module(f"{PACK}.latentsync_core.{name}")


@contextmanager
def only_model_folders(**folders: str) -> Iterator[None]:
    """Make each named ComfyUI model folder type list just the given path while inside."""
    import folder_paths

    saved = {name: folder_paths.folder_names_and_paths.get(name) for name in folders}
    for name, path in folders.items():
        extensions = saved[name][1] if saved[name] else set()
        folder_paths.folder_names_and_paths[name] = ([str(path)], extensions)
        folder_paths.filename_list_cache.pop(name, None)
    try:
        yield
    finally:
        for name, entry in saved.items():
            if entry is None:
                folder_paths.folder_names_and_paths.pop(name, None)
            else:
                folder_paths.folder_names_and_paths[name] = entry
            folder_paths.filename_list_cache.pop(name, None)
