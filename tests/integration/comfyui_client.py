"""A ComfyUI server started from a temp base directory, and a small HTTP client for it.

Used by the integration tests (see ``conftest.py``). Only the standard library is
used, so the tests run under any interpreter that has pytest; the server itself
runs under ``COMFYUI_PYTHON``.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

PACK_NAME = "comfyui-latentsync"
"""Folder name of the pack under the temp ``custom_nodes``."""


class ComfyUIError(RuntimeError):
    """The server refused a prompt, a prompt failed, or the server did not start.

    ``execution_error`` holds ComfyUI's ``execution_error`` record (``node_type``,
    ``exception_type``, ``exception_message``, ``traceback``) when a node raised.
    """

    def __init__(self, message: str, execution_error: dict | None = None) -> None:
        super().__init__(message)
        self.execution_error = execution_error


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_base_dir(base: str, pack_dir: str) -> None:
    """Lay out a ComfyUI base directory under ``base`` with the pack linked in.

    ``custom_nodes/comfyui-latentsync`` is a symlink to ``pack_dir`` (copied if the
    file system refuses links); ``models``, ``input``, ``output``, ``temp`` and
    ``user`` are empty folders.
    """
    for name in ("custom_nodes", "models", "input", "output", "temp", "user"):
        os.makedirs(os.path.join(base, name), exist_ok=True)
    link = os.path.join(base, "custom_nodes", PACK_NAME)
    try:
        os.symlink(pack_dir, link, target_is_directory=True)
    except OSError:
        shutil.copytree(pack_dir, link, ignore=shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache"))


VRAM_MODES = ("--gpu-only", "--highvram", "--normalvram", "--lowvram", "--novram")
"""ComfyUI flags its argument parser refuses next to ``--cpu``."""
CPU_LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cpu_launcher.py")


@dataclass
class ComfyUIServer:
    """A running ``main.py --cpu`` (with a VRAM mode: through ``cpu_launcher.py``) whose every folder lives under ``base``.

    Nothing is written into the ComfyUI checkout or the pack: folders come from
    ``--base-directory``, the database from ``--database-url`` and bytecode goes
    to ``pycache_dir`` (``PYTHONPYCACHEPREFIX``).
    """

    comfyui_path: str
    python: str
    base: str
    pycache_dir: str
    extra_args: tuple[str, ...] = ()
    """More ``main.py`` flags (``--lowvram``, ``--novram``, ``--cpu-vae``, ...)."""
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    start_seconds: float = 0.0
    startup_log: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> str:
        return os.path.join(self.base, "server.log")

    def folder(self, name: str) -> str:
        """Absolute path of ``input``, ``output``, ``models``, ... under the base dir."""
        return os.path.join(self.base, name)

    def command(self) -> list[str]:
        database = os.path.join(self.base, "user", "comfyui.db")
        main = os.path.join(self.comfyui_path, "main.py")
        # ComfyUI refuses --cpu next to a VRAM mode: cpu_launcher.py sets CPU mode after its parser ran.
        vram_mode = any(flag in VRAM_MODES for flag in self.extra_args)
        start = [self.python, CPU_LAUNCHER, main] if vram_mode else [self.python, main, "--cpu"]
        return [
            *start, "--listen", "127.0.0.1", "--port", str(self.port),
            "--disable-auto-launch", "--base-directory", self.base,
            "--database-url", f"sqlite:///{database}", *self.extra_args,
        ]

    def start(self, timeout: float) -> None:
        """Start the server and wait until ``/object_info`` answers; raise with the log if not.

        What it printed until then (node imports) is kept in ``startup_log``.
        """
        env = dict(os.environ, PYTHONPYCACHEPREFIX=self.pycache_dir, PYTHONUNBUFFERED="1")
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # the cache goes to pycache_dir only
        began = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=self.base, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        while time.monotonic() - began < timeout:
            if self.process.poll() is not None:
                raise ComfyUIError(f"ComfyUI exited with code {self.process.returncode} while starting:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/object_info", timeout=30) as reply:
                    if reply.status == 200:
                        self.start_seconds = time.monotonic() - began
                        self.startup_log = self.log()
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        self.stop()
        raise ComfyUIError(f"ComfyUI did not answer /object_info within {timeout:.0f} s:\n{self.log()}")

    def stop(self) -> None:
        """Terminate the server's process group (SIGTERM, then SIGKILL after 10 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log(self) -> str:
        """Everything the server printed so far."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""


@dataclass
class ComfyUIClient:
    """Talks to a :class:`ComfyUIServer` over its HTTP API."""

    server: ComfyUIServer
    client_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def _request(self, path: str, payload: dict | None = None, timeout: float = 60) -> bytes:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.server.url + path, data=data,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.read()

    def get_json(self, path: str) -> Any:
        return json.loads(self._request(path))

    def object_info(self) -> dict[str, dict]:
        """``/object_info``: every node class's inputs, outputs and category."""
        return self.get_json("/object_info")

    def queue(self, prompt: dict[str, dict]) -> str:
        """POST an API-format prompt; return its id, or raise with the server's validation errors."""
        try:
            reply = json.loads(self._request("/prompt", {"prompt": prompt, "client_id": self.client_id}))
        except urllib.error.HTTPError as exc:
            raise ComfyUIError(f"/prompt refused the prompt ({exc.code}): {exc.read().decode(errors='replace')}") from exc
        return reply["prompt_id"]

    def wait(self, prompt_id: str, timeout: float) -> dict:
        """Poll ``/history/<id>`` until the prompt finished; return its history entry.

        Raises :class:`ComfyUIError` with the execution error (node, exception,
        traceback) when the prompt failed, or when it is still running after ``timeout``.
        """
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            entry = self.get_json(f"/history/{prompt_id}").get(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None:
                status = entry["status"]
                if status.get("status_str") != "success":
                    raise _failure(prompt_id, status.get("messages", []))
                return entry
            if self.server.process is not None and self.server.process.poll() is not None:
                raise ComfyUIError(f"ComfyUI exited (code {self.server.process.returncode}) while running {prompt_id}")
            time.sleep(0.25)
        raise ComfyUIError(f"prompt {prompt_id} still running after {timeout:.0f} s")

    def run(self, prompt: dict[str, dict], timeout: float = 300) -> dict:
        """Queue ``prompt``, wait for it and return its history entry."""
        return self.wait(self.queue(prompt), timeout)

    def output_files(self, entry: dict, node_id: str) -> list[dict]:
        """File records (``filename``, ``subfolder``, ``type``) a node of the prompt saved.

        Images are listed under ``images``; ComfyUI 0.3.64 lists SaveVideo's files
        there too (with ``animated``), other nodes may use ``gifs``/``videos``/``audio``.
        """
        outputs = entry["outputs"].get(node_id, {})
        return [rec for key in ("images", "gifs", "videos", "audio") for rec in outputs.get(key, [])]

    def fetch(self, record: dict) -> bytes:
        """The bytes of an output file, through ``/view`` as the frontend gets them."""
        query = urllib.parse.urlencode({k: record.get(k, "") for k in ("filename", "subfolder", "type")})
        return self._request("/view?" + query)


def _failure(prompt_id: str, messages: list) -> ComfyUIError:
    """The error of a failed prompt from its history ``messages`` (``[event, data]`` pairs)."""
    for event, data in messages:
        if event == "execution_error":
            trace = "".join(data.get("traceback", []))
            return ComfyUIError(
                f"prompt {prompt_id} failed in node {data.get('node_id')} ({data.get('node_type')}): "
                f"{data.get('exception_type')}: {data.get('exception_message', '').strip()}\n{trace}", data)
    return ComfyUIError(f"prompt {prompt_id} failed: {json.dumps(messages)}")


WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
"""Input types the frontend shows as widgets (a list as the type is an old-style combo)."""

UPLOAD_FLAGS = ("image_upload", "video_upload", "audio_upload")
"""Input options that make the frontend add an upload button widget after the input."""

FRONTEND_ONLY = frozenset({"Note", "MarkdownNote"})
"""Canvas nodes that never reach the server."""


def input_specs(object_info: dict, class_type: str) -> list[tuple[str, list, bool]]:
    """``(name, spec, required)`` of a node class's inputs in the order the frontend lays them out."""
    info = object_info[class_type]
    specs = []
    for section in ("required", "optional"):
        for name in info.get("input_order", {}).get(section, info["input"].get(section, {}).keys()):
            specs.append((name, info["input"][section][name], section == "required"))
    return specs


def is_widget(spec: list) -> bool:
    return isinstance(spec[0], list) or spec[0] in WIDGET_TYPES


def spec_options(spec: list) -> dict:
    return spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}


def default_value(spec: list) -> Any:
    """The value a freshly added node's widget holds (the declared default, else the first option)."""
    options = spec_options(spec)
    if "default" in options:
        return options["default"]
    choices = spec[0] if isinstance(spec[0], list) else options.get("options")
    if choices:
        return choices[0]
    return {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}.get(spec[0])


class Graph:
    """Builds an API-format prompt node by node.

    ``g.add("RepeatImageBatch", image=load[0], amount=3)`` returns a :class:`Node`
    whose ``[i]`` is a link to its i-th output; keyword arguments are the inputs.
    With ``object_info``, required widgets left out get their defaults, as on
    the canvas, so a test names only what it cares about.
    """

    def __init__(self, object_info: dict | None = None) -> None:
        self.object_info = object_info
        self.prompt: dict[str, dict] = {}

    def add(self, class_type: str, **inputs: Any) -> "Node":
        if self.object_info is not None:
            if class_type not in self.object_info:
                raise ComfyUIError(f"the server has no node '{class_type}' (did its module fail to import?)")
            for name, spec, required in input_specs(self.object_info, class_type):
                if required and name not in inputs and is_widget(spec):
                    inputs[name] = default_value(spec)
        node_id = str(len(self.prompt) + 1)
        self.prompt[node_id] = {"class_type": class_type, "inputs": inputs}
        return Node(node_id)


@dataclass(frozen=True)
class Node:
    """A node of a :class:`Graph`; indexing gives ``[node_id, output_index]`` links."""

    id: str

    def __getitem__(self, output: int) -> list:
        return [self.id, output]


def workflow_to_prompt(workflow: dict, object_info: dict) -> dict[str, dict]:
    """Convert a canvas workflow (``nodes``, ``links``, ``widgets_values``) to an API prompt.

    Follows the frontend's rules for plain graphs: widget values are listed in
    input order, an INT with ``control_after_generate`` and an upload input are
    each followed by one extra value, a linked input takes the link. Muted nodes
    and notes are left out; bypassed nodes, reroutes, primitives and subgraphs
    are not supported (raise ``ValueError``).
    """
    links = {link[0]: link for link in workflow.get("links", [])}
    prompt: dict[str, dict] = {}
    for node in workflow["nodes"]:
        class_type = node["type"]
        if class_type in FRONTEND_ONLY or node.get("mode", 0) == 2:
            continue
        if class_type not in object_info:
            raise ValueError(f"node {node['id']}: the server has no node '{class_type}' (did its module fail to import?)")
        if node.get("mode", 0) != 0:
            raise ValueError(f"node {node['id']} ({class_type}) has mode {node['mode']}; only normal and muted nodes convert")
        values = iter(node.get("widgets_values") or [])
        inputs: dict[str, Any] = {}
        for name, spec, _ in input_specs(object_info, class_type):
            if not is_widget(spec):
                continue
            inputs[name] = next(values)
            options = spec_options(spec)
            if options.get("control_after_generate") or any(options.get(flag) for flag in UPLOAD_FLAGS):
                next(values, None)
        for socket_ in node.get("inputs", []):
            if socket_.get("link") is not None:
                link = links[socket_["link"]]
                inputs[socket_["name"]] = [str(link[1]), link[2]]
        prompt[str(node["id"])] = {"class_type": class_type, "inputs": inputs}
    return prompt
