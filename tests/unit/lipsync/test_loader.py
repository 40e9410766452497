"""Loading UNet + Whisper from a models folder (latentsync_core.lipsync.models).

The files are written here in the official layouts with seeded random weights: the
UNet as ``{"state_dict": ...}`` with the reference key names for the tiny architecture
(tests/support/unet_fixtures.py), Whisper as OpenAI's ``{"dims", "model_state_dict"}``
(tests/support/whisper_checkpoint.py). Needs the UNet and Whisper modules of the unet and audio
branches; skipped where they are absent.
"""
from __future__ import annotations

import os
import shutil

import pytest
import torch

import unet_fixtures
import whisper_checkpoint
from latentsync_core.errors import BadInputError  # noqa: E402
from latentsync_core.files.model_files import ModelRequest, resolve_paths  # noqa: E402
from latentsync_core.lipsync.models import load_models  # noqa: E402
from latentsync_core.lipsync.unet import LatentSyncUNetConfig, map_reference_state_dict  # noqa: E402

TINY = LatentSyncUNetConfig.tiny()
SEED = 4321


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """models/latentsync with the official 1.6 layout: tiny UNet + Whisper tiny."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("models")
    folder = root / "latentsync" / "LatentSync-1.6"
    (folder / "whisper").mkdir(parents=True)
    state = unet_fixtures.reference_weights(unet_fixtures.reference_key_shapes("tiny"), SEED)
    torch.save({"state_dict": state}, folder / "latentsync_unet.pt")
    whisper_checkpoint.write_tiny_checkpoint(str(folder / "whisper" / "tiny.pt"), seed=SEED)
    roots = {"latentsync": str(root / "latentsync"), "vae": str(root / "vae")}

    class Folders:
        """The models folder as :class:`~latentsync_core.files.model_files.ModelFolders` (no downloads)."""

        download = False

        def folder_root(self, folder: str) -> str:
            return roots[folder]

        def locate(self, folder: str, name: str) -> str | None:
            path = os.path.join(roots[folder], *name.split("/"))
            return path if os.path.isfile(path) else None

    return roots, Folders(), state


def _no_download(*_):
    raise AssertionError("nothing may be downloaded")


def test_auto_version_comes_from_the_folder_and_weights_load_exactly(models):
    roots, folders, state = models
    paths = resolve_paths(ModelRequest(unet="LatentSync-1.6/latentsync_unet.pt"), folders, _no_download)
    loaded = load_models(paths, None, unet_config=TINY)
    assert loaded.version == "1.6" and loaded.config == TINY and loaded.dtype == torch.float32
    expected = map_reference_state_dict(state)
    got = loaded.unet.state_dict()
    assert set(got) == set(expected) and all(torch.equal(got[k], expected[k]) for k in expected)
    assert not loaded.unet.training and not loaded.whisper.training
    assert next(loaded.whisper.parameters()).dtype == torch.float32


def test_half_precision_unet_takes_half_precision_whisper(models):
    roots, folders, _ = models
    paths = resolve_paths(ModelRequest(unet="LatentSync-1.6/latentsync_unet.pt", version="1.6"), folders, _no_download)
    loaded = load_models(paths, "1.6", dtype=torch.float16, unet_config=TINY)
    assert loaded.version == "1.6"
    assert {p.dtype for p in loaded.unet.parameters()} == {torch.float16}
    assert {p.dtype for p in loaded.whisper.parameters()} == {torch.float16}


def test_a_unet_outside_a_version_folder_needs_a_version(models):
    roots, folders, _ = models
    custom = os.path.join(roots["latentsync"], "finetuned", "step_1000.pt")
    os.makedirs(os.path.dirname(custom), exist_ok=True)
    shutil.copyfile(os.path.join(roots["latentsync"], "LatentSync-1.6", "latentsync_unet.pt"), custom)
    paths = resolve_paths(ModelRequest(unet="finetuned/step_1000.pt"), folders, _no_download)
    assert paths.whisper == os.path.join(roots["latentsync"], "LatentSync-1.6", "whisper", "tiny.pt")
    with pytest.raises(BadInputError, match="Cannot tell whether .* 1.5 or 1.6"):
        load_models(paths, None, unet_config=TINY)
    assert load_models(paths, "1.5", unet_config=TINY).version == "1.5"


def test_version_choice_contradicting_the_folder_is_refused(models):
    roots, folders, _ = models
    paths = resolve_paths(ModelRequest(unet="LatentSync-1.6/latentsync_unet.pt"), folders, _no_download)
    with pytest.raises(BadInputError, match="Conflicting LatentSync versions"):
        load_models(paths, "1.5", unet_config=TINY)
