"""Every example workflow loads in the real ComfyUI frontend without missing nodes or errors.

Opt-in on top of COMFYUI_PATH: needs node, Chromium and PLAYWRIGHT_DIR (see canvas.py).
The API prompt the frontend builds from the canvas must equal ``workflow_to_prompt``'s,
which the run tests use.
"""
from __future__ import annotations

import json
import os

import pytest

from canvas import missing_tools, render_workflow
from comfyui_client import ComfyUIServer, workflow_to_prompt
from media import WORKFLOWS, example_names, prepare_inputs


@pytest.mark.parametrize("name", example_names())
def test_example_workflow_loads_in_the_canvas(name: str, comfyui_server: ComfyUIServer, object_info: dict,
                                              tmp_path) -> None:
    problem = missing_tools()
    if problem:
        pytest.skip(problem)
    path = os.path.join(WORKFLOWS, name + ".json")
    with open(path, encoding="utf-8") as f:
        workflow = json.load(f)
    prepare_inputs(workflow, comfyui_server.folder("input"))

    report = render_workflow(comfyui_server.url, path, str(tmp_path / "canvas.png"), str(tmp_path / "prompt.json"))

    assert report["missing"] == [] and report["load_errors"] == [], report
    assert report["returncode"] == 0
    assert os.path.getsize(tmp_path / "canvas.png") > 10_000
    frontend = {node_id: {"class_type": node["class_type"], "inputs": node["inputs"]}
                for node_id, node in report["prompt"].items()}
    assert frontend == workflow_to_prompt(workflow, object_info)
