"""Every example workflow loads in the real ComfyUI frontend without missing nodes or errors.

Opt-in on top of COMFYUI_PATH: needs node, Chromium and PLAYWRIGHT_DIR (see canvas.py).
The API prompt the frontend builds from the canvas must equal ``workflow_to_prompt``'s,
which the run tests use, apart from values of widgets the frontend adds on its own
(PreviewAny's ``preview`` text box): the server declares no such inputs and ignores them.
The server has no model files, so the frontend's Missing Models panel must list exactly the
files the workflow declares (``properties.models``), each as "folder / file".

Without the browser, each file must still equal what ``workflows.py`` builds from this
server's ``/object_info`` (so a node that changed its inputs shows up as a stale example).
"""
from __future__ import annotations

import json
import os

import pytest

from canvas import missing_tools, render_workflow
from comfyui_client import FRONTEND_ONLY, ComfyUIServer, input_specs, workflow_to_prompt
from media import WORKFLOWS, example_names, prepare_inputs
from workflows import WORKFLOWS as BUILT, build, dumps


def test_every_example_is_built_by_workflows_py() -> None:
    assert sorted(BUILT) == example_names()


@pytest.mark.parametrize("name", sorted(BUILT))
def test_example_workflow_is_up_to_date(name: str, object_info: dict) -> None:
    with open(os.path.join(WORKFLOWS, name + ".json"), encoding="utf-8") as f:
        saved = f.read()
    assert saved == dumps(build(name, object_info)), (
        f"example_workflows/{name}.json is stale: run tests/integration/workflows.py, then canvas.py")


@pytest.mark.parametrize("name", example_names())
def test_example_workflow_loads_in_the_canvas(name: str, comfyui_server: ComfyUIServer, object_info: dict,
                                              tmp_path) -> None:
    problem = missing_tools()
    if problem:
        pytest.skip(problem)
    path = os.path.join(WORKFLOWS, name + ".json")
    with open(path, encoding="utf-8") as f:
        workflow = json.load(f)
    absent_core = sorted({node["type"] for node in workflow["nodes"]} - set(object_info) - FRONTEND_ONLY)
    if absent_core and not any(t.startswith("LatentSync_") for t in absent_core):
        pytest.skip(f"this ComfyUI lacks core node(s) {absent_core} (LoadAudio needs torchaudio)")
    prepare_inputs(workflow, comfyui_server.folder("input"))

    report = render_workflow(comfyui_server.url, path, str(tmp_path / "canvas.png"), str(tmp_path / "prompt.json"))

    assert report["missing"] == [] and report["load_errors"] == [], report
    declared = sorted(f"{m['directory']} / {m['name']}" for node in workflow["nodes"]
                      for m in node.get("properties", {}).get("models", []))
    assert sorted(entry.splitlines()[0] for entry in report["missing_models"]) == declared
    assert report["returncode"] == 0
    assert os.path.getsize(tmp_path / "canvas.png") > 10_000
    frontend = {}
    for node_id, node in report["prompt"].items():
        declared = {name for name, _, _ in input_specs(object_info, node["class_type"])}
        inputs = {name: value for name, value in node["inputs"].items() if name in declared}
        frontend[node_id] = {"class_type": node["class_type"], "inputs": inputs}
    assert frontend == workflow_to_prompt(workflow, object_info)
