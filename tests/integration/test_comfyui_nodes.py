"""The pack loads in a real ComfyUI and every node is listed with its category and tooltips."""
from __future__ import annotations

import glob
import os
import re

from comfyui_client import PACK_NAME, ComfyUIServer

PACK_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODE_ID = re.compile(r"""node_id\s*=\s*["'](LatentSync_\w+)["']""")


def declared_node_ids() -> set[str]:
    """Every ``node_id="LatentSync_..."`` written in the pack's ``nodes/`` modules."""
    ids: set[str] = set()
    for path in glob.glob(os.path.join(PACK_DIR, "nodes", "*.py")):
        with open(path, encoding="utf-8") as f:
            ids.update(NODE_ID.findall(f.read()))
    return ids


def test_pack_imports_without_errors(comfyui_server: ComfyUIServer) -> None:
    log = comfyui_server.startup_log
    failures = [line for line in log.splitlines()
                if PACK_NAME in line and any(word in line for word in ("Cannot import", "IMPORT FAILED", "Error"))]
    frames = [line for line in log.splitlines()
              if line.lstrip().startswith('File "') and f"{os.sep}{PACK_NAME}{os.sep}" in line]
    assert not failures and not frames, "pack import errors in the server log:\n" + "\n".join(failures + frames)
    loaded = [line for line in log.splitlines() if "seconds:" in line and line.rstrip().endswith(PACK_NAME)]
    assert loaded, "the pack is missing from ComfyUI's 'Import times for custom nodes' list"


def test_object_info_lists_every_node(object_info: dict) -> None:
    declared = declared_node_ids()
    assert declared, "no node_id='LatentSync_...' found under nodes/"
    listed = {name for name in object_info if name.startswith("LatentSync_")}
    assert listed == declared


def test_nodes_have_category_and_input_tooltips(object_info: dict) -> None:
    nodes = {name: info for name, info in object_info.items() if name.startswith("LatentSync_")}
    assert nodes
    problems = []
    for name, info in sorted(nodes.items()):
        if info.get("category") != "LatentSync":
            problems.append(f"{name}: category {info.get('category')!r}")
        for section in ("required", "optional"):
            for input_name, spec in info["input"].get(section, {}).items():
                options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
                if not str(options.get("tooltip", "")).strip():
                    problems.append(f"{name}.{input_name}: no tooltip")
    assert not problems, "\n".join(problems)
