"""LatentSync_LipSyncQuality in a real ComfyUI server: it runs as an output node, its table reaches the
history as UI text, the frontend script that shows that table is served, and (with a browser) shows it."""
from __future__ import annotations

import json
import os
import subprocess
import urllib.request

import pytest

from canvas import HERE, PLAYWRIGHT_DIR, missing_tools
from comfyui_client import PACK_NAME, ComfyUIClient, Graph


def test_quality_node_runs_and_its_table_reaches_the_ui(comfyui: ComfyUIClient, object_info: dict) -> None:
    assert object_info["LatentSync_LipSyncQuality"]["output_node"] is True
    g = Graph(object_info)
    frames = g.add("EmptyImage", width=96, height=64, batch_size=3, color=0x808080)
    quality = g.add("LatentSync_LipSyncQuality", images=frames[0], source=frames[0], fps=25.0)
    entry = comfyui.run(g.prompt, timeout=300)
    text = entry["outputs"][quality.id]["text"]
    assert len(text) == 1 and "quality report: 3 frames" in text[0] and "no audio connected" in text[0]


def test_frontend_script_is_served(comfyui: ComfyUIClient) -> None:
    with urllib.request.urlopen(f"{comfyui.server.url}/extensions/{PACK_NAME}/quality_table.js", timeout=30) as reply:
        script = reply.read().decode()
    assert "LatentSync_LipSyncQuality" in script and "onExecuted" in script
    scripts = json.loads(urllib.request.urlopen(f"{comfyui.server.url}/extensions", timeout=30).read())
    assert f"/extensions/{PACK_NAME}/quality_table.js" in scripts


def test_frontend_shows_the_table_on_the_node(comfyui: ComfyUIClient, tmp_path) -> None:
    """Opt-in on top of COMFYUI_PATH: needs node, Chromium and PLAYWRIGHT_DIR (see canvas.py)."""
    problem = missing_tools()
    if problem:
        pytest.skip(problem)
    done = subprocess.run(["node", os.path.join(HERE, "quality_widget.mjs"), comfyui.server.url, str(tmp_path / "node.png")],
                          cwd=PLAYWRIGHT_DIR, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errors"] == []
    assert report["after"] == report["before"] + ["report"]  # one box, reused on the second run
    assert report["value"] == "quality report: 3 frames\nmetric  value" and report["read_only"] is True
    assert "report" not in report["prompt_inputs"] and report["saved"] == [25, False]
