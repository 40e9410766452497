"""What the pack installs: install.py's mediapipe choice, and pip resolutions of requirements.txt.

The resolver checks (marked ``network``; CI runs them) use ``pip install --dry-run
--report``, which reads package metadata from PyPI without installing anything.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from install import PROTOBUF_FOR_SOLUTIONS, solutions_plan
from latentsync_core.mediapipe_release import SOLUTIONS_RELEASE, TASKS_RELEASE
from repo_paths import ROOT

REQUIREMENTS = os.path.join(ROOT, "requirements.txt")
CONSTRAINTS = os.path.join(ROOT, "constraints.txt")
SDIST_ONLY = ("face-recognition-models",)
"""Requirements published as a source archive only: pip builds each into a pure-data wheel on any Python and
platform (checked by ``test_sdist_only_requirements_build_pure_wheels_without_dependencies``), so the wheel-only
resolutions below leave them out."""
LINUX = tuple(f"manylinux_2_{minor}_x86_64" for minor in range(17, 40)) + ("manylinux2014_x86_64", "linux_x86_64")
"""A glibc 2.39 x86-64 Linux: pip matches --platform tags exactly, so every manylinux level is listed."""


def test_mediapipe_0_10_21_where_its_wheel_and_protobuf_fit():
    assert solutions_plan((3, 12), "6.33.6") == ((SOLUTIONS_RELEASE,), "")
    assert solutions_plan((3, 10), "4.25.3") == ((SOLUTIONS_RELEASE,), "")


def test_protobuf_is_only_added_where_there_is_none():
    assert solutions_plan((3, 11), None) == ((SOLUTIONS_RELEASE, PROTOBUF_FOR_SOLUTIONS), "")


def test_tasks_release_on_python_3_13_or_protobuf_7():
    requirements, reason = solutions_plan((3, 13), "6.33.6")
    assert requirements == () and "Python 3.13" in reason
    requirements, reason = solutions_plan((3, 12), "7.36.2")
    assert requirements == () and "protobuf 7.36.2" in reason


def resolve(tmp_path, *args: str) -> dict[str, str]:
    """``{name: version}`` pip would install for ``args`` (dry run), failing the test on a resolver error."""
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--dry-run", "--ignore-installed", "--report", str(report), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]}


@pytest.mark.network
def test_requirements_keep_onnxruntime_gpu_the_only_onnxruntime(tmp_path):
    """An environment with onnxruntime-gpu (other packs need it) gets no second onnxruntime from the pack."""
    names = resolve(tmp_path, "onnxruntime-gpu", "-r", REQUIREMENTS)
    assert "onnxruntime-gpu" in names
    assert "onnxruntime" not in names
    assert not {"opencv-python", "opencv-contrib-python"} & set(names), "a second OpenCV would clash with the headless one"
    assert int(names["numpy"].split(".")[0]) >= 2, "something pins numpy<2"


def requirement_lines(skip: tuple[str, ...] = ()) -> list[str]:
    """requirements.txt's requirements (comments dropped), without those whose name is in ``skip``."""
    lines = [line.split("#")[0].strip() for line in open(REQUIREMENTS, encoding="utf-8")]
    return [r for r in lines if r and not r.lower().startswith(skip)]


def test_sdist_only_requirements_build_pure_wheels_without_dependencies():
    """What this environment's pip built from each source-only requirement is a pure ``py3-none-any`` wheel
    with no dependencies: it installs the same on Windows, macOS and Python 3.13."""
    from importlib.metadata import distribution

    for name in SDIST_ONLY:
        assert any(name in r for r in requirement_lines()), f"{name} is no longer a requirement: drop it from SDIST_ONLY"
        dist = distribution(name)
        wheel = dist.read_text("WHEEL") or ""
        assert "Root-Is-Purelib: true" in wheel and "Tag: py3-none-any" in wheel, f"{name}: {wheel}"
        assert not dist.requires, f"{name} depends on {dist.requires}"


@pytest.mark.network
def test_python_3_13_linux_resolves_with_comfyui_torch(tmp_path):
    platforms = [a for p in LINUX for a in ("--platform", p)]
    names = resolve(
        tmp_path, "--only-binary=:all:", "--python-version", "3.13", *platforms, "--target", str(tmp_path / "t"),
        "-c", CONSTRAINTS, *requirement_lines(SDIST_ONLY), "torch", "torchvision",
    )
    assert names["torch"] == "2.14.1" and int(names["numpy"].split(".")[0]) >= 2
    assert "mediapipe" not in names and "onnxruntime" not in names


@pytest.mark.parametrize("platforms", [LINUX, ("win_amd64",), ("macosx_14_0_arm64",)], ids=["linux", "windows", "macos"])
@pytest.mark.network
def test_python_3_13_wheels_exist_for_every_requirement_and_mediapipe(tmp_path, platforms):
    """Each requirement (and the Tasks mediapipe install.py picks on 3.13) has a cp313/py3 wheel there.

    ``--no-deps``: pip evaluates dependency markers for the running system, not the
    target, so only the top-level wheels are checked off Linux (torch is ComfyUI's).
    """
    requirements = requirement_lines(SDIST_ONLY) + [TASKS_RELEASE]
    platform_args = [a for p in platforms for a in ("--platform", p)]
    names = resolve(
        tmp_path, "--no-deps", "--only-binary=:all:", "--python-version", "3.13", *platform_args,
        "--target", str(tmp_path / "t"), *requirements,
    )
    assert len(names) == len(requirements), names
