"""Test setup: the repository root and ``tests/support/`` are importable; shared fixtures live here.

Layout: ``unit/<package>/`` tests one package of ``latentsync_core`` (``cli/`` the command line),
``nodes/`` the ComfyUI nodes in-process, ``integration/`` a real ComfyUI server, ``tools/`` the
repository's scripts (install.py, .ci/, bench/). Helpers shared by several test modules are in
``support/`` (imported by module name: ``from clips import astronaut``); fixtures shared by several
test modules are defined below. No test module imports another.
"""
import functools
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUPPORT = os.path.join(ROOT, "tests", "support")
for path in (SUPPORT, ROOT):
    if path not in sys.path:
        sys.path.insert(0, path)


@contextmanager
def _single_thread() -> Iterator[None]:
    """torch's intra-op threads set to one inside, restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True, scope="session")
def _landmark_cache_in_tmp(tmp_path_factory):
    """Landmark caches of the command line and the nodes go to a temporary folder, not the user's."""
    from latentsync_core.face.landmark_cache import CACHE_ENV

    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("landmark_cache"))
    yield
    os.environ.pop(CACHE_ENV, None)


@pytest.fixture(scope="module")
def one_thread():
    """Run a module's tiny-model forwards on one thread.

    On a loaded two-core machine, two intra-op threads made a tiny UNet forward ~10x slower
    than one; the tiny models gain nothing from more threads.
    """
    with _single_thread():
        yield


@pytest.fixture(scope="module")
def small_encoder():
    """A Whisper audio encoder with one small layer and seeded random weights."""
    import torch

    from latentsync_core.lipsync.whisper import WhisperAudioEncoder

    torch.manual_seed(0)
    dims = {"n_mels": 80, "n_audio_ctx": 1500, "n_audio_state": 32, "n_audio_head": 2, "n_audio_layer": 1}
    return WhisperAudioEncoder(dims).eval()


@pytest.fixture
def folder(tmp_path) -> Path:
    """An empty folder whose path has spaces and non-ASCII letters."""
    path = tmp_path / "bad inputs é 文件"
    path.mkdir()
    return path


@pytest.fixture
def tiny_architectures(monkeypatch):
    """The released configs replaced by the tiny UNet (faces at the version's size) and the tiny VAE.

    For the models of ``lipsync_cli.write_lipsync_models``; a module asks for it with
    ``pytestmark = pytest.mark.usefixtures("tiny_architectures")``.
    """
    from latentsync_core.lipsync import checkpoints
    from latentsync_core.lipsync import vae as vae_module
    from ray_workers import use_tiny_architectures

    use_tiny_architectures(functools.partial(monkeypatch.setitem, checkpoints.CONFIGS),
                           functools.partial(monkeypatch.setattr, vae_module, "SD_VAE_CONFIG"))
    with _single_thread():
        yield


@pytest.fixture(scope="module")
def sample_frames():
    """The bundled sample clip's frames, ``(75, H, W, 3)`` uint8."""
    from lipsync_cli import SAMPLE
    from video_files import decode_video

    return decode_video(SAMPLE)


@pytest.fixture()
def umask_027(monkeypatch):
    """The process umask is 0o027 and any call of ``os.umask`` by the code under test fails the test.

    Reading the umask means setting it, which changes it for every thread for a moment: the pack's
    writers must find a new file's mode another way.
    """
    previous = os.umask(0o027)

    def forbidden(mask: int) -> int:
        raise AssertionError("os.umask was called: it changes the umask of every thread for a moment")

    monkeypatch.setattr(os, "umask", forbidden)
    yield 0o027
    monkeypatch.undo()
    os.umask(previous)


@pytest.fixture(scope="session")
def lipsync_models(tmp_path_factory):
    """A models folder with both LatentSync versions (tiny random UNet, Whisper tiny) and the VAE, no restorers."""
    from lipsync_cli import write_lipsync_models

    root = tmp_path_factory.mktemp("lipsync_models")
    write_lipsync_models(root)
    return root
