"""What publishing to the Comfy Registry needs: pyproject.toml, the icon, the changelog, LICENSE/NOTICE, .comfyignore.

The rules are the registry's (https://docs.comfy.org/registry/specifications and /registry/publishing)
and what comfy-cli, which the publish workflow runs, does with the fields (comfy_cli/registry/config_parser.py:
an invalid ``requires-comfyui`` or an unknown ``Environment ::`` classifier is dropped with only a warning;
comfy_cli/file_utils.py: the archive is ``git ls-files`` minus the gitignore-style ``.comfyignore``).
"""
from __future__ import annotations

import ast
import fnmatch
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlparse

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

from latentsync_core.face.landmarks.insightface_onnx import BUFFALO_L_URL
from latentsync_core.face.landmarks.mediapipe_tasks import FACE_LANDMARKER_URL
from latentsync_core.files.model_files import OFFICIAL_FILES
from latentsync_core.metrics.syncnet import SYNCNET_URL
from repo_paths import ROOT

COMFYIGNORE = os.path.join(ROOT, ".comfyignore")

# The registry's node id: the documented rule (letters, digits, '-', '_', '.', starting with a letter, no two
# special characters in a row) within the registry backend's (mapper/node.go IsValidNodeID: lowercase, at most
# 50 characters, ``^[a-z][a-z0-9-_]+(\.[a-z0-9-_]+)*$``).
NODE_ID = re.compile(r"[a-z][a-z0-9]*(?:[-_.][a-z0-9]+)*")
# mapper/publisher.go IsValidPublisherID.
PUBLISHER_ID = re.compile(r"[a-z][a-z0-9-]*")
# comfy-cli's validate_version, applied to each comma-separated part of requires-comfyui.
VERSION_PART = re.compile(r"(?:(==|>=|<=|!=|~=|>|<|<>|=)\s*)?(\d+\.\d+\.\d+(?:-[a-zA-Z0-9]+)?)?")
ACCELERATORS = {"GPU :: NVIDIA CUDA", "GPU :: AMD ROCm", "GPU :: Intel Arc", "NPU :: Huawei Ascend", "GPU :: Apple Metal"}
OS_PREFIXES = ("Microsoft", "POSIX", "MacOS", "OS Independent")
MEDIA = (".png", ".jpg", ".jpeg", ".gif", ".mp4", ".mov", ".mkv", ".webm", ".wav", ".flac", ".mp3", ".m4a",
         ".npz", ".npy", ".pt", ".pth", ".safetensors", ".onnx", ".bin")


def _read(name: str) -> str:
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return f.read()


@pytest.fixture(scope="module")
def pyproject() -> dict:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def valid_node_id(name: str) -> bool:
    return len(name) <= 50 and NODE_ID.fullmatch(name) is not None and "comfyui" not in name


def valid_requires_comfyui(spec: str) -> bool:
    return all(VERSION_PART.fullmatch(part.strip()) for part in spec.split(","))


# --- pyproject.toml -------------------------------------------------------------------------------------------


def test_the_checks_refuse_what_the_registry_refuses():
    assert not valid_node_id("ComfyUI-enhancer")
    assert not valid_node_id("comfyui_latentsync")
    assert not valid_node_id("123-tool")
    assert not valid_node_id("lip--sync")
    assert not valid_node_id("lipsync-")
    assert not valid_node_id("Lipsync")
    assert not valid_node_id("a" * 51)
    assert valid_node_id("image-processor")
    assert not valid_requires_comfyui(">=0.3")
    assert not valid_requires_comfyui("0.3.48+")
    assert valid_requires_comfyui(">=0.3.48,<1.0.0")


def test_project_name_is_a_registry_node_id(pyproject):
    assert valid_node_id(pyproject["project"]["name"])


def test_project_fields(pyproject):
    project = pyproject["project"]
    assert project["description"].strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    assert project["requires-python"].startswith(">=3.")
    # Dependencies stay in requirements.txt, which ComfyUI-Manager installs line by line.
    assert project["dynamic"] == ["dependencies"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}
    urls = project["urls"]
    for key in ("Repository", "Documentation", "Bug Tracker"):
        assert urlparse(urls[key]).scheme == "https", key
    assert urls["Bug Tracker"].startswith(urls["Repository"])


def test_classifiers_are_ones_the_registry_reads(pyproject):
    classifiers = pyproject["project"]["classifiers"]
    assert "Operating System :: OS Independent" in classifiers
    assert "Environment :: GPU :: NVIDIA CUDA" in classifiers
    for c in classifiers:
        if c.startswith("Environment ::"):
            assert c.removeprefix("Environment :: ") in ACCELERATORS, c
        if c.startswith("Operating System ::"):
            assert c.removeprefix("Operating System :: ").startswith(OS_PREFIXES), c


def test_tool_comfy(pyproject):
    comfy = pyproject["tool"]["comfy"]
    assert PUBLISHER_ID.fullmatch(comfy["PublisherId"])
    assert comfy["DisplayName"].strip()
    assert valid_requires_comfyui(comfy["requires-comfyui"])
    assert comfy["requires-comfyui"].startswith(">=")


def icon_path(icon_url: str, repository_url: str) -> str:
    """Path in this repository of a raw.githubusercontent.com icon URL of ``repository_url``."""
    icon = urlparse(icon_url)
    assert icon.scheme == "https" and icon.netloc == "raw.githubusercontent.com", icon_url
    owner, name, branch, path = icon.path.strip("/").split("/", 3)
    assert f"{owner}/{name}" == urlparse(repository_url).path.strip("/"), "the icon URL names another repository"
    assert branch == "main"
    return path


def test_icon_is_a_square_image_in_the_repository(pyproject):
    path = icon_path(pyproject["tool"]["comfy"]["Icon"], pyproject["project"]["urls"]["Repository"])
    full = os.path.join(ROOT, *path.split("/"))
    assert os.path.isfile(full), f"{path} (named by [tool.comfy] Icon) is not in the repository"
    assert path.lower().endswith((".svg", ".png", ".jpg", ".gif"))
    if path.lower().endswith(".svg"):
        svg = ET.parse(full).getroot()
        assert svg.tag == "{http://www.w3.org/2000/svg}svg"
        width, height = float(svg.get("width")), float(svg.get("height"))
        assert width == height <= 400  # the registry: square, at most 400 x 400 px


# --- CHANGELOG.md ---------------------------------------------------------------------------------------------


def released_versions(changelog: str) -> list[str]:
    """Versions of the ``## [X.Y.Z] - YYYY-MM-DD`` sections, newest first (``Unreleased`` left out)."""
    return re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, flags=re.M)


def test_released_versions_parser():
    text = "# Changelog\n\n## [Unreleased]\n\n## [1.2.0] - 2027-01-02\n- x\n\n## [1.1.0] - 2026-12-01\n"
    assert released_versions(text) == ["1.2.0", "1.1.0"]


def test_version_is_the_newest_changelog_release(pyproject):
    changelog = _read("CHANGELOG.md")
    versions = released_versions(changelog)
    assert versions, "CHANGELOG.md has no released section"
    assert pyproject["project"]["version"] == versions[0]
    assert changelog.index("## [Unreleased]") < changelog.index(f"## [{versions[0]}]")


# --- LICENSE and NOTICE ---------------------------------------------------------------------------------------


def notice_items(text: str) -> list[str]:
    """The ``- `` list items of NOTICE, each with its continuation lines joined and whitespace collapsed."""
    items: list[str] = []
    in_item = False
    for line in text.splitlines():
        if line.startswith("- "):
            items.append(line[2:])
            in_item = True
        elif in_item and line.startswith("  ") and line.strip():
            items[-1] += " " + line.strip()
        else:
            in_item = False
    return [" ".join(i.split()) for i in items]


def test_license_is_apache_and_points_at_notice(pyproject):
    text = _read("LICENSE")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert "NOTICE" in text.split("END OF TERMS AND CONDITIONS")[1]
    assert pyproject["project"]["license"] == {"text": "Apache-2.0"}


def test_notice_names_every_official_model_file_with_its_licence():
    items = notice_items(_read("NOTICE"))
    for entry in OFFICIAL_FILES:
        licence = " ".join(entry.licence.split())
        assert any(entry.file_name in i and licence in i and entry.repo_id in i for i in items), (
            f"NOTICE has no item naming {entry.file_name} from {entry.repo_id} with its licence '{entry.licence}'"
        )


def test_notice_names_the_other_downloads():
    items = notice_items(_read("NOTICE"))
    for url in (FACE_LANDMARKER_URL, BUFFALO_L_URL, SYNCNET_URL):
        assert any(url in i for i in items), url


def test_notice_item_parser():
    text = "Head\n\n- a.pt (x/y):\n  MIT (x)\n- b.pt: BSD\n\nnot an item\n  indented prose\n"
    assert notice_items(text) == ["a.pt (x/y): MIT (x)", "b.pt: BSD"]


# --- .comfyignore ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IgnoreRule:
    regex: re.Pattern
    negate: bool
    directory_only: bool


def _glob_regex(glob: str) -> str:
    """Regex for one gitignore glob: ``*`` and ``?`` stay inside a path part, ``**`` crosses parts."""
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 2:]:
            end = glob.index("]", i + 2)
            body = glob[i + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        elif glob[i] == "\\" and i + 1 < len(glob):
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


def ignore_rules(text: str) -> list[IgnoreRule]:
    """gitignore rules: a pattern with a '/' before its end is anchored at the root, others match at any depth."""
    rules = []
    for line in text.splitlines():
        line = line.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        directory_only = pattern.endswith("/")
        pattern = pattern.rstrip("/")
        anchored = "/" in pattern
        body = _glob_regex(pattern.lstrip("/"))
        rules.append(IgnoreRule(re.compile(body if anchored else "(?:.*/)?" + body), negate, directory_only))
    return rules


def ignored(path: str, rules: list[IgnoreRule]) -> bool:
    """Whether the file ``path`` (``/``-separated, relative to the root) is ignored; as in git, nothing is
    re-included below an ignored directory, and the last matching rule decides."""
    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        candidate, is_dir = "/".join(parts[:depth]), depth < len(parts)
        verdict = False
        for rule in rules:
            if (is_dir or not rule.directory_only) and rule.regex.fullmatch(candidate):
                verdict = not rule.negate
        if verdict:
            return True
    return False


def test_ignore_matcher_follows_gitignore():
    rules = ignore_rules("# c\n/tests/\nbuild/\n*.log\n!keep.log\ndocs/**/*.png\n/top.txt\n")
    assert ignored("tests/data/a.npz", rules)
    assert not ignored("nodes/tests.py", rules)  # a directory-only rule does not match a file
    assert not ignored("pkg/tests/a.py", rules)  # anchored at the root
    assert ignored("pkg/build/x.py", rules)  # unanchored: any depth
    assert ignored("a/b/c.log", rules) and not ignored("a/keep.log", rules)
    assert ignored("docs/x/y/z.png", rules) and ignored("docs/z.png", rules) and not ignored("docs/z.svg", rules)
    assert ignored("top.txt", rules) and not ignored("sub/top.txt", rules)
    assert ignored("tests/keep.log", ignore_rules("/tests/\n!keep.log\n"))  # no re-include under an ignored dir


@pytest.fixture(scope="module")
def comfyignore() -> list[IgnoreRule]:
    return ignore_rules(_read(COMFYIGNORE))


SHIPPED = ["__init__.py", "nodes/__init__.py", "latentsync_core/job.py", "latentsync_core/files/model_files.py",
           "install.py", "requirements.txt", "pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE", "NOTICE",
           "web/quality_table.js", "example_workflows/lipsync_video.json", "example_workflows/lipsync_video.jpg",
           "example_workflows/sample/astronaut_speech.mp4", "example_workflows/sample/speech.wav"]
LEFT_OUT = ["tests/conftest.py", "tests/data/astronaut.png", "tests/integration/workflows.py", "bench/bench_unet.py",
            "bench/make_sample_clip.py", ".ci/run", ".github/workflows/publish.yml", "requirements-test.txt",
            "constraints.txt"]


@pytest.mark.parametrize("path", SHIPPED)
def test_comfyignore_keeps_what_users_need(comfyignore, path):
    assert os.path.isfile(os.path.join(ROOT, path)), path
    assert not ignored(path, comfyignore)


@pytest.mark.parametrize("path", LEFT_OUT)
def test_comfyignore_leaves_out_tests_benches_and_ci(comfyignore, path):
    assert ignored(path, comfyignore)


def _git_files() -> list[str]:
    if shutil.which("git") is None or not os.path.exists(os.path.join(ROOT, ".git")):
        pytest.skip("not a git checkout: the archive is made from git ls-files")
    out = subprocess.run(["git", "-C", ROOT, "ls-files"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def test_matcher_agrees_with_git_on_every_tracked_file(comfyignore):
    files = _git_files()
    done = subprocess.run(
        ["git", "-C", ROOT, "-c", f"core.excludesFile={COMFYIGNORE}", "check-ignore", "--no-index", "-v", "--stdin"],
        input="\n".join(files), capture_output=True, text=True,
    )
    by_git = {line.split("\t", 1)[1] for line in done.stdout.splitlines() if line.startswith(f"{COMFYIGNORE}:")}
    assert by_git == {f for f in files if ignored(f, comfyignore)}


def test_archive_holds_no_test_or_bench_file_and_every_bundled_medium_has_a_notice(comfyignore):
    files = _git_files()
    archive = [f for f in files if not ignored(f, comfyignore)]
    assert not [f for f in archive if f.split("/")[0] in ("tests", "bench", ".ci", ".github")]
    named = re.findall(r"[\w.*-]+(?:/[\w.*-]+)+", _read("NOTICE"))
    media = [f for f in files if f.lower().endswith(MEDIA)]
    assert media
    assert [f for f in media if not any(fnmatch.fnmatch(f, n) for n in named)] == []


# --- what the Registry forbids at run time -------------------------------------------------------------------


def _runtime_sources() -> list[str]:
    paths = [os.path.join(ROOT, "__init__.py")]
    for top in ("nodes", "latentsync_core"):
        for folder, _, names in os.walk(os.path.join(ROOT, top)):
            paths += [os.path.join(folder, n) for n in names if n.endswith(".py")]
    return paths


def installer_calls(source: str) -> list[str]:
    """Imports of subprocess/pip, os.system-style calls and eval/exec in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in ("subprocess", "pip")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("subprocess", "pip"):
            found.append(node.module)
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in ("eval", "exec"):
                found.append(func.id)
            elif (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "os"
                  and re.fullmatch(r"system|popen|exec\w*|spawn\w*", func.attr)):
                found.append(f"os.{func.attr}")
    return found


def test_installer_call_finder():
    src = "import subprocess\nfrom pip._internal import main\nimport os\nos.system('x')\neval('1')\nmodel.eval()\n"
    assert installer_calls(src) == ["subprocess", "pip._internal", "os.system", "eval"]


def test_runtime_code_installs_nothing_and_evaluates_no_strings():
    """The Registry forbids pip calls at run time (install.py, the install step, is not run-time code)."""
    found = {}
    for path in _runtime_sources():
        with open(path, encoding="utf-8") as f:
            calls = installer_calls(f.read())
        if calls:
            found[os.path.relpath(path, ROOT)] = calls
    assert found == {}


# --- the publish workflow -------------------------------------------------------------------------------------


def test_publish_workflow_runs_the_registry_action_on_a_pyproject_change():
    workflow = yaml.safe_load(_read(os.path.join(".github", "workflows", "publish.yml")))
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert "workflow_dispatch" in triggers
    assert triggers["push"] == {"branches": ["main"], "paths": ["pyproject.toml"]}
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    publish = [s for s in steps if s.get("uses", "").startswith("Comfy-Org/publish-node-action@")]
    assert len(publish) == 1
    assert publish[0]["with"]["personal_access_token"] == "${{ secrets.REGISTRY_ACCESS_TOKEN }}"
