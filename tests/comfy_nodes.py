"""In-process access to the pack's ComfyUI nodes, for the opt-in node tests (set COMFYUI_PATH).

With ComfyUI on ``sys.path`` the name ``nodes`` is ComfyUI's own module, so the pack's
``nodes/`` folder is loaded as the package ``latentsync_nodes``.
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

COMFYUI_PATH = os.environ.get("COMFYUI_PATH")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


def node_module(name: str) -> ModuleType:
    """``nodes/<name>.py`` of the pack, imported as ``latentsync_nodes.<name>``."""
    import_comfy()
    if "latentsync_nodes" not in sys.modules:
        folder = os.path.join(ROOT, "nodes")
        spec = importlib.util.spec_from_file_location("latentsync_nodes", os.path.join(folder, "__init__.py"), submodule_search_locations=[folder])
        package = importlib.util.module_from_spec(spec)
        sys.modules["latentsync_nodes"] = package
        spec.loader.exec_module(package)
        sys.modules["latentsync_nodes.paths"].register_model_folders()
    return importlib.import_module(f"latentsync_nodes.{name}")


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
