"""ComfyUI entry point of the comfyui-latentsync node pack.

ComfyUI imports this folder as a package and calls :func:`comfy_entrypoint`.
The pack's own top-level modules (``latentsync_core``, ``restorers``) are made
importable by appending this folder to ``sys.path``; appending (not
prepending) keeps ComfyUI's own ``nodes`` module first on the path.
"""
import os
import sys

_PACK_DIR = os.path.dirname(os.path.abspath(__file__))
if _PACK_DIR not in sys.path:
    sys.path.append(_PACK_DIR)

try:
    from .nodes import comfy_entrypoint
except ImportError as exc:
    if "comfy_api" not in str(exc):
        raise
    # Imported outside ComfyUI (tests, the command line): no nodes to register.

__all__ = ["comfy_entrypoint"]
