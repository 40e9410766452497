"""Pack installer, run by ComfyUI-Manager after ``pip install -r requirements.txt`` (or by hand: ``python install.py``).

Installs the mediapipe release that works with the running Python, with
``--no-deps`` so that no torch, numpy or protobuf version another pack relies on
changes (see ``latentsync_core/mediapipe_release.py``):

* mediapipe 0.10.21 (bundled face-mesh models, works offline) where its wheel exists
  (CPython <= 3.12) and the installed protobuf is older than 7 (or absent: then
  ``protobuf<7`` is added, changing no existing version);
* otherwise the Tasks-only release, whose ``face_landmarker.task`` model is
  downloaded into ``models/mediapipe`` on first use.

An already installed mediapipe is left alone. Prints what it did in one line.
"""
from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from latentsync_core.mediapipe_release import LAST_SOLUTIONS_PYTHON, SOLUTIONS_RELEASE, TASKS_RELEASE

PREFIX = "comfyui-latentsync:"
PROTOBUF_FOR_SOLUTIONS = "protobuf>=4.25,<7"


def installed(package: str) -> str | None:
    """Installed version of ``package``, or ``None``."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def major(version: str) -> int:
    return int(version.split(".", 1)[0])


def pip_install(*requirements: str) -> tuple[bool, str]:
    """``pip install --no-deps --only-binary=:all: requirements``; success and pip's output."""
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--only-binary=:all:", *requirements]
    done = subprocess.run(cmd, capture_output=True, text=True)
    return done.returncode == 0, done.stdout + done.stderr


def solutions_plan(python: tuple[int, int], protobuf: str | None) -> tuple[tuple[str, ...], str]:
    """Requirements that install mediapipe 0.10.21 here, or ``()`` and why the Tasks release is used instead."""
    if python > LAST_SOLUTIONS_PYTHON:
        return (), f"Python {python[0]}.{python[1]} has no mediapipe 0.10.21 wheel"
    if protobuf is not None and major(protobuf) >= 7:
        return (), f"protobuf {protobuf} is too new for mediapipe 0.10.21"
    return (SOLUTIONS_RELEASE,) + (() if protobuf is not None else (PROTOBUF_FOR_SOLUTIONS,)), ""


def main() -> int:
    current = installed("mediapipe")
    protobuf = installed("protobuf")
    if current is not None:
        note = ""
        if current == SOLUTIONS_RELEASE.split("==")[1] and protobuf is not None and major(protobuf) >= 7:
            note = f"; it cannot run with protobuf {protobuf}: pip install --no-deps {TASKS_RELEASE}"
        print(f"{PREFIX} mediapipe {current} already installed, left as is{note}")
        return 0
    python = sys.version_info[:2]
    requirements, reason = solutions_plan(python, protobuf)
    if requirements:
        ok, log = pip_install(*requirements)
        if ok:
            print(f"{PREFIX} installed {' and '.join(requirements)} (--no-deps; bundled face mesh, works offline)")
            return 0
        reason = f"no mediapipe 0.10.21 wheel for this platform (Python {python[0]}.{python[1]})"
    ok, log = pip_install(TASKS_RELEASE)
    if ok:
        print(
            f"{PREFIX} installed {TASKS_RELEASE} (--no-deps; {reason}): the face model face_landmarker.task "
            "is downloaded into models/mediapipe on first use"
        )
        return 0
    sys.stderr.write(log)
    print(f"{PREFIX} could not install mediapipe ({reason}); run: pip install --no-deps {TASKS_RELEASE}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
