"""A normal run is quiet: MediaPipe's native log lines and protobuf noise are filtered at the source."""
from __future__ import annotations

import os
import subprocess
import sys

from latentsync_core.face.landmarks.native_logs import DEBUG_ENV, quiet_native_logs
from repo_paths import ROOT

SAMPLE = os.path.join(ROOT, "example_workflows", "sample", "astronaut_speech.mp4")
NOISE = (
    "W0000 00:00:1796232598.728256   11034 inference_feedback_manager.cc:114] Feedback manager requires a model\n"
    "I0000 00:00:1796232598.7 gl_context.cc:369] GL version\n"
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "AttributeError: 'MessageFactory' object has no attribute 'GetPrototype'\n"
)
KEPT = "E0000 00:00:1796232598.7 calculator_graph.cc:887] a real failure\nsomething another thread printed\n"


def write_native_and_python(text: str) -> None:
    """Half of ``text`` to descriptor 2 (as C++ code writes), half through ``sys.stderr``."""
    lines = text.splitlines(keepends=True)
    os.write(2, "".join(lines[::2]).encode())
    sys.stderr.write("".join(lines[1::2]))


def test_routine_lines_are_dropped_and_the_rest_kept(capfd, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    with quiet_native_logs():
        write_native_and_python(NOISE + KEPT)
    err = capfd.readouterr().err
    assert sorted(err.splitlines()) == sorted(KEPT.splitlines()), err


def test_debug_env_shows_everything(capfd, monkeypatch):
    monkeypatch.setenv(DEBUG_ENV, "1")
    with quiet_native_logs():
        write_native_and_python(NOISE)
    assert sorted(capfd.readouterr().err.splitlines()) == sorted(NOISE.splitlines())


def test_enhance_without_restorer_prints_only_progress_and_the_final_line(tmp_path):
    """The C++ logs go to descriptor 2, so the run is captured at the process level."""
    out = tmp_path / "out.mp4"
    env = {k: v for k, v in os.environ.items() if k != DEBUG_ENV}
    env.setdefault("OMP_NUM_THREADS", "1")
    done = subprocess.run(
        [sys.executable, "-m", "latentsync_core", "enhance", "--superres", "none", "--input", SAMPLE, "--output", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    pieces = [p.strip() for p in done.stderr.replace("\r", "\n").split("\n") if p.strip()]
    assert pieces[-1].startswith(f"wrote {out}: 75 frames"), pieces[-1]
    others = [p for p in pieces[:-1] if not p.startswith("enhance:")]
    assert others == [], f"unexpected output: {others}"
