"""The ``comfy_api`` symbols the pack's nodes use, and the same surface read from a ComfyUI install.

:func:`pack_usage` parses ``nodes/*.py`` (no ComfyUI needed) into what the nodes touch: imported names per
``comfy_api`` module, ``io`` attribute paths (``"Int.Input"``) with the keyword arguments each call passes,
and the methods node classes override on ``io.ComfyNode``. :func:`live_surface` reads the same items from an
imported ComfyUI (``inspect``), in the format of ``tests/data/comfy_api_*.json``.
"""
from __future__ import annotations

import ast
import inspect
import os
from dataclasses import dataclass, field
from types import ModuleType

from repo_paths import ROOT

NODES_DIR = os.path.join(ROOT, "nodes")
CUSTOM = "Custom()"
"""Path prefix of a socket type made by ``io.Custom(...)`` (its ``Input`` / ``Output``)."""


@dataclass
class Usage:
    imports: dict[str, set[str]] = field(default_factory=dict)
    """``comfy_api`` module -> names imported from it."""
    calls: dict[str, set[str]] = field(default_factory=dict)
    """``io`` path called (``"Int.Input"``) -> keyword names passed anywhere."""
    paths: set[str] = field(default_factory=set)
    """``io`` paths referenced without a call (``"ComfyNode"``)."""
    node_methods: set[str] = field(default_factory=set)
    """Methods defined on ``io.ComfyNode`` subclasses."""


def _chain(node: ast.AST) -> list[str] | None:
    """``io.Int.Input`` -> ["io", "Int", "Input"]; None for anything but a name/attribute chain."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _trees() -> dict[str, ast.Module]:
    return {
        name: ast.parse(open(os.path.join(NODES_DIR, name), encoding="utf-8").read(), name)
        for name in sorted(os.listdir(NODES_DIR)) if name.endswith(".py")
    }


def pack_usage() -> Usage:
    trees = _trees()
    usage = Usage()
    custom_names = {
        target.id
        for tree in trees.values() for stmt in tree.body if isinstance(stmt, ast.Assign)
        and isinstance(stmt.value, ast.Call) and _chain(stmt.value.func) == ["io", "Custom"]
        for target in stmt.targets if isinstance(target, ast.Name)
    }

    def io_path(chain: list[str] | None) -> str | None:
        if not chain or len(chain) < 2:
            return None
        if chain[0] == "io":
            return ".".join(chain[1:])
        if chain[0] in custom_names and len(chain) == 2:
            return f"{CUSTOM}.{chain[1]}"
        return None

    for tree in trees.values():
        called: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("comfy_api"):
                usage.imports.setdefault(node.module, set()).update(a.name for a in node.names)
            elif isinstance(node, ast.Call) and (path := io_path(_chain(node.func))):
                called.add(id(node.func))
                usage.calls.setdefault(path, set()).update(k.arg for k in node.keywords if k.arg)
            elif isinstance(node, ast.ClassDef) and any(_chain(b) == ["io", "ComfyNode"] for b in node.bases):
                usage.node_methods.update(f.name for f in node.body if isinstance(f, ast.FunctionDef))
        inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and id(node) not in inner and id(node) not in called:
                if (path := io_path(_chain(node))) and not path.startswith(CUSTOM):
                    usage.paths.add(path)
    return usage


def _params(obj: object) -> list[str]:
    """Parameter names of a callable (a class: its constructor), without ``self``."""
    return list(inspect.signature(obj).parameters)


def live_surface(api: ModuleType, usage: Usage) -> dict:
    """What ComfyUI's ``comfy_api.<version>`` module ``api`` offers for every item in ``usage``."""
    io = api.io
    signatures: dict[str, list[str]] = {}
    for path in sorted(usage.calls):
        obj = io.Custom("PROBE") if path.startswith(CUSTOM) else io
        for part in path.removeprefix(f"{CUSTOM}.").split(".") if path.startswith(CUSTOM) else path.split("."):
            obj = getattr(obj, part, None)
        if obj is not None:
            signatures[path] = _params(obj)
    return {
        "module": api.__name__,
        "module_names": sorted(n for n in dir(api) if not n.startswith("_")),
        "io_all": sorted(io.__all__),
        "members": {
            path: sorted(n for n in dir(getattr(io, path.split(".")[0])) if not n.startswith("_"))
            for path in sorted({p.split(".")[0] for p in usage.paths | set(usage.calls)} - {CUSTOM})
            if inspect.isclass(getattr(io, path.split(".")[0], None))
        },
        "signatures": signatures,
    }


if __name__ == "__main__":  # rewrite tests/data/comfy_api_0.3.64.json from the ComfyUI named by COMFYUI_PATH
    import json
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from comfy_nodes import import_comfy

    import_comfy()
    import comfy_api.v0_0_2 as api
    from comfyui_version import __version__

    surface = {"source": f"ComfyUI {__version__}, written by tests/support/comfy_api_surface.py from a live import",
               **live_surface(api, pack_usage())}
    with open(os.path.join(ROOT, "tests", "data", f"comfy_api_{__version__}.json"), "w", encoding="utf-8") as f:
        json.dump(surface, f, indent=1)
