"""ComfyUI entry point of the comfyui-latentsync node pack.

ComfyUI imports this folder as a package and calls :func:`comfy_entrypoint`. Everything inside
the pack is reached by relative imports; nothing is added to ``sys.path``, so the pack's module
names never clash with other packs'. Imported outside ComfyUI (tests, the command line), it
registers nothing.
"""
WEB_DIRECTORY = "./web"
"""Frontend extension: shows the quality report table on its node."""

if __package__:
    try:
        from .nodes import comfy_entrypoint
    except ModuleNotFoundError as exc:
        if exc.name is None or not exc.name.startswith("comfy"):
            raise
    else:
        __all__ = ["comfy_entrypoint", "WEB_DIRECTORY"]
