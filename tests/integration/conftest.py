"""Opt-in tests that run the pack inside a real ComfyUI server on CPU.

Skipped unless ``COMFYUI_PATH`` names a ComfyUI checkout (the one tested is
0.3.64). ``COMFYUI_PYTHON`` names the interpreter that runs it (default: the one
running pytest); it needs ComfyUI's and the pack's requirements.

One server per test session is started from a temp base directory with the pack
symlinked into its ``custom_nodes``; models, input, output, user data, the
database and bytecode all go under temp folders, so neither the checkout nor
the repository is written to. A failing test gets the server log attached.

Environment knobs: ``COMFYUI_START_TIMEOUT`` (seconds, default 300),
``COMFYUI_PYCACHE`` (bytecode cache kept between sessions, default
``<tmp>/comfyui-latentsync-pycache``).
"""
from __future__ import annotations

import os
import sys
import tempfile

import pytest

from comfyui_client import ComfyUIClient, ComfyUIServer, make_base_dir
from random_models import tiny_model_server

HERE = os.path.dirname(os.path.abspath(__file__))
PACK_DIR = os.path.dirname(os.path.dirname(HERE))
COMFYUI_PATH = os.environ.get("COMFYUI_PATH", "")
SKIP_REASON = "set COMFYUI_PATH to a ComfyUI checkout to run the ComfyUI integration tests"

_servers: list[ComfyUIServer] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark this folder's tests ``comfyui``; skip them all when COMFYUI_PATH is not a checkout."""
    usable = os.path.isfile(os.path.join(COMFYUI_PATH, "main.py"))
    for item in items:
        if str(item.path).startswith(HERE + os.sep):
            item.add_marker(pytest.mark.comfyui)
            if not usable:
                item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Attach the tail of the server log to the report of a failing test."""
    report = yield
    if report.failed and _servers and str(item.path).startswith(HERE + os.sep):
        lines = _servers[0].log().splitlines()
        report.sections.append(("ComfyUI server log (last 200 lines)", "\n".join(lines[-200:])))
    return report


@pytest.fixture(scope="session")
def comfyui_server(tmp_path_factory: pytest.TempPathFactory):
    """A ComfyUI server with the pack installed, running until the session ends."""
    base = str(tmp_path_factory.mktemp("comfyui_base"))
    make_base_dir(base, PACK_DIR)
    server = ComfyUIServer(
        comfyui_path=os.path.abspath(COMFYUI_PATH),
        python=os.environ.get("COMFYUI_PYTHON", sys.executable),
        base=base,
        pycache_dir=os.environ.get("COMFYUI_PYCACHE",
                                   os.path.join(tempfile.gettempdir(), "comfyui-latentsync-pycache")),
    )
    _servers.append(server)
    try:
        server.start(timeout=float(os.environ.get("COMFYUI_START_TIMEOUT", "300")))
        print(f"\nComfyUI answered /object_info {server.start_seconds:.1f} s after start (port {server.port})")
        yield server
    finally:
        server.stop()
        _servers.remove(server)


@pytest.fixture(scope="session")
def comfyui(comfyui_server: ComfyUIServer) -> ComfyUIClient:
    """A client of the session's server."""
    return ComfyUIClient(comfyui_server)


@pytest.fixture(scope="session")
def object_info(comfyui: ComfyUIClient) -> dict[str, dict]:
    """``/object_info`` of the session's server, fetched once."""
    return comfyui.object_info()


@pytest.fixture(scope="session")
def lipsync_server(tmp_path_factory: pytest.TempPathFactory):
    """A server with the random lip-sync models and restorers (random_models.tiny_model_server), ComfyUI's default
    memory mode; shared by every module that lip-syncs in it (one start per session)."""
    pytest.importorskip("spandrel_extra_arches")
    with tiny_model_server(str(tmp_path_factory.mktemp("comfyui_lipsync")), PACK_DIR) as server:
        yield server
