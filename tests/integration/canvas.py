"""Loads example workflows into the real ComfyUI canvas (headless Chromium) and renders thumbnails.

Needs ``node``, Chromium (``CHROMIUM``, default /usr/bin/chromium) and the npm
package playwright-core installed in the folder named by ``PLAYWRIGHT_DIR``.

    python tests/integration/canvas.py [OUT_DIR]

starts a ComfyUI like the tests do (``COMFYUI_PATH``, ``COMFYUI_PYTHON``) with the bundled
sample files (``example_workflows/sample/``) in its input folder, renders every
``example_workflows/*.json`` and writes ``<name>.jpg`` (ImageMagick's ``convert``) into
OUT_DIR, by default ``example_workflows/``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
RENDER_SCRIPT = os.path.join(HERE, "render_workflow.mjs")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PLAYWRIGHT_DIR = os.environ.get("PLAYWRIGHT_DIR", "")


def missing_tools() -> str:
    """Why the canvas cannot be rendered here, or "" when it can."""
    if shutil.which("node") is None:
        return "node is not on PATH"
    if not os.path.isfile(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (set CHROMIUM)"
    if not os.path.isdir(os.path.join(PLAYWRIGHT_DIR, "node_modules", "playwright-core")):
        return "set PLAYWRIGHT_DIR to a folder with `npm install playwright-core` done in it"
    return ""


def render_workflow(url: str, workflow_path: str, out_png: str, prompt_out: str) -> dict:
    """Run ``render_workflow.mjs``; return its report plus ``returncode`` and the frontend's ``prompt``."""
    done = subprocess.run(["node", RENDER_SCRIPT, url, workflow_path, out_png, prompt_out],
                          cwd=PLAYWRIGHT_DIR, capture_output=True, text=True, timeout=300)
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"render_workflow.mjs printed nothing (exit {done.returncode}):\n{done.stderr}")
    report = json.loads(lines[-1])
    report["returncode"] = done.returncode
    with open(prompt_out, encoding="utf-8") as f:
        report["prompt"] = json.load(f)
    return report


def main(out_dir: str) -> int:
    from comfyui_client import ComfyUIServer, make_base_dir
    from media import SAMPLE_DIR, WORKFLOWS, example_names

    problem = missing_tools()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="comfyui_canvas_") as base:
        make_base_dir(base, os.path.dirname(os.path.dirname(HERE)))
        server = ComfyUIServer(os.environ["COMFYUI_PATH"], os.environ.get("COMFYUI_PYTHON", sys.executable), base,
                               os.path.join(tempfile.gettempdir(), "comfyui-latentsync-pycache"))
        for sample in os.listdir(SAMPLE_DIR):
            if not sample.endswith(".md"):
                shutil.copy(os.path.join(SAMPLE_DIR, sample), server.folder("input"))
        server.start(timeout=300)
        try:
            for name in example_names():
                path = os.path.join(WORKFLOWS, name + ".json")
                png = os.path.join(base, name + ".png")
                report = render_workflow(server.url, path, png, os.path.join(base, name + ".prompt.json"))
                print(name, json.dumps({k: report[k] for k in ("returncode", "missing", "load_errors", "missing_models")}))
                subprocess.run(["convert", png, "-strip", "-quality", "85", os.path.join(out_dir, name + ".jpg")],
                               check=True)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.dirname(HERE)),
                                                                       "example_workflows")))
