"""Test setup: the repository root is importable; shared fixtures live here."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture(autouse=True, scope="session")
def _landmark_cache_in_tmp(tmp_path_factory):
    """Landmark caches of the command line and the nodes go to a temporary folder, not the user's."""
    from latentsync_core.face.landmark_cache import CACHE_ENV

    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("landmark_cache"))
    yield
    os.environ.pop(CACHE_ENV, None)


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


@pytest.fixture
def tiny_architectures(monkeypatch):
    """The released configs replaced by the tiny UNet (faces at the version's size) and the tiny VAE.

    For the models of ``lipsync_cli.write_lipsync_models``; a module asks for it with
    ``pytestmark = pytest.mark.usefixtures("tiny_architectures")``.
    """
    import dataclasses

    import torch

    from latentsync_core.lipsync import checkpoints
    from latentsync_core.lipsync import vae as vae_module
    from latentsync_core.lipsync.unet import LatentSyncUNetConfig
    from latentsync_core.lipsync.vae import TINY_VAE_CONFIG

    tiny = LatentSyncUNetConfig.tiny()
    monkeypatch.setitem(checkpoints.CONFIGS, "1.5", lambda: dataclasses.replace(tiny, resolution=256))
    monkeypatch.setitem(checkpoints.CONFIGS, "1.6", lambda: dataclasses.replace(tiny, resolution=512))
    monkeypatch.setattr(vae_module, "SD_VAE_CONFIG", TINY_VAE_CONFIG)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def lipsync_models(tmp_path_factory):
    """A models folder with both LatentSync versions (tiny random UNet, Whisper tiny) and the VAE, no restorers."""
    from lipsync_cli import write_lipsync_models

    root = tmp_path_factory.mktemp("lipsync_models")
    write_lipsync_models(root)
    return root
