"""ComfyUI entry point of the comfyui-latentsync node pack.

ComfyUI imports this folder as a package and calls :func:`comfy_entrypoint`.
The pack's own top-level modules (``latentsync_core``, ``restorers``) are made
importable by appending this folder to ``sys.path``; appending (not
prepending) keeps ComfyUI's own ``nodes`` module first on the path. Imported
outside ComfyUI (tests, the command line), it registers nothing.
"""
import os
import sys

_PACK_DIR = os.path.dirname(os.path.abspath(__file__))
if _PACK_DIR not in sys.path:
    sys.path.append(_PACK_DIR)

if __package__:
    try:
        from .nodes import comfy_entrypoint
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("comfy"):
            raise
    else:
        __all__ = ["comfy_entrypoint"]
