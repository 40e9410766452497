"""Every ``comfy_api`` symbol the nodes use exists in ComfyUI 0.3.64 and in the newest ``comfy_api`` files.

The surfaces are stored under tests/data/: ``comfy_api_0.3.64.json`` (written from a live 0.3.64 import by
``tests/support/comfy_api_surface.py``; the opt-in test below re-reads it live) and ``comfy_api_newest.json`` (read from
the newest ComfyUI files; its ``source`` says which files, commits and when).
"""
import json
import os

import pytest

from comfy_api_surface import CUSTOM, Usage, live_surface, pack_usage
from comfy_nodes import requires_comfyui
from repo_paths import DATA
SURFACES = ["comfy_api_0.3.64.json", "comfy_api_newest.json"]
VERSIONED_MODULE = "comfy_api.v0_0_2"


def _surface(name: str) -> dict:
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return json.load(f)


def missing(surface: dict, usage: Usage) -> list[str]:
    """The uses of ``usage`` that ``surface`` lacks, one line each."""
    problems = []
    for module, names in usage.imports.items():
        if module != surface["module"]:
            problems.append(f"imports {module}; only {surface['module']} is checked")
        problems += [f"{module}.{n}" for n in sorted(set(names) - set(surface["module_names"]))]
    for path in sorted(usage.paths | set(usage.calls)):
        top, _, rest = path.partition(".")
        if top != CUSTOM and top not in surface["io_all"]:
            problems.append(f"io.{top}")
        elif rest and top != CUSTOM and rest not in surface["members"].get(top, []):
            problems.append(f"io.{path}")
    for path, keywords in sorted(usage.calls.items()):
        params = surface["signatures"].get(path)
        if params is None:
            problems.append(f"io.{path}(...) signature not recorded")
        else:
            problems += [f"io.{path}({k}=)" for k in sorted(keywords - set(params))]
    public = {m for m in usage.node_methods if not m.startswith("_")}
    problems += [f"io.ComfyNode.{m}" for m in sorted(public - set(surface["members"]["ComfyNode"]))]
    return problems


def test_nodes_import_one_versioned_api_module():
    usage = pack_usage()
    assert set(usage.imports) == {VERSIONED_MODULE}
    assert usage.calls and usage.paths  # the parser found the nodes' schemas


@pytest.mark.parametrize("surface", SURFACES)
def test_every_used_symbol_exists(surface):
    assert missing(_surface(surface), pack_usage()) == []


def test_check_catches_a_symbol_or_keyword_that_is_gone():
    newest = _surface("comfy_api_newest.json")
    usage = Usage(imports={VERSIONED_MODULE: {"io", "Nope"}}, calls={"Int.Input": {"tooltip", "bogus"}},
                  paths={"Nowhere"}, node_methods={"execute", "not_an_api"})
    assert missing(newest, usage) == [
        "comfy_api.v0_0_2.Nope", "io.Nowhere", "io.Int.Input(bogus=)", "io.ComfyNode.not_an_api",
    ]


@requires_comfyui[0]
@requires_comfyui[1]
def test_stored_064_surface_matches_a_live_import():
    from comfy_nodes import import_comfy

    import_comfy()
    import comfy_api.v0_0_2 as api

    from comfyui_version import __version__

    if __version__ != "0.3.64":
        pytest.skip(f"COMFYUI_PATH is ComfyUI {__version__}, the stored surface is 0.3.64")
    usage = pack_usage()
    stored = {k: v for k, v in _surface("comfy_api_0.3.64.json").items() if k != "source"}
    assert live_surface(api, usage) == stored, "regenerate: python tests/support/comfy_api_surface.py (COMFYUI_PATH set)"
    assert missing(stored, usage) == []

