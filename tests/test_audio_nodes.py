"""ComfyUI nodes of nodes/audio.py, against a real ComfyUI checkout (opt-in: set COMFYUI_PATH)."""
from __future__ import annotations

import importlib.util
import os
import sys

import numpy as np
import pytest
import torch

from latentsync_core.errors import MissingModelError
from test_whisper import DATA, read_wav
from whisper_checkpoint import write_tiny_checkpoint

COMFYUI_PATH = os.environ.get("COMFYUI_PATH")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = [pytest.mark.comfyui, pytest.mark.skipif(not COMFYUI_PATH, reason="set COMFYUI_PATH to a ComfyUI checkout")]


@pytest.fixture(scope="module")
def audio_nodes(tmp_path_factory):
    # pytest puts the repository's parent folder on sys.path (the root has __init__.py); a sibling
    # package named "comfy" there would shadow ComfyUI's namespace package "comfy", so drop such entries.
    sys.path[:] = [p for p in sys.path if not os.path.isfile(os.path.join(p or ".", "comfy", "__init__.py"))]
    sys.path.insert(0, COMFYUI_PATH)
    import comfy.cli_args

    if not torch.cuda.is_available():
        comfy.cli_args.args.cpu = True
    import folder_paths

    package = importlib.util.spec_from_file_location(
        "latentsync_nodes", os.path.join(ROOT, "nodes", "__init__.py"), submodule_search_locations=[os.path.join(ROOT, "nodes")]
    )
    sys.modules["latentsync_nodes"] = importlib.util.module_from_spec(package)
    package.loader.exec_module(sys.modules["latentsync_nodes"])
    module = importlib.import_module("latentsync_nodes.audio")
    models = tmp_path_factory.mktemp("latentsync")
    folder_paths.add_model_folder_path("latentsync", str(models), is_default=True)
    return module, models


def test_loader_names_the_missing_file_folder_and_url(audio_nodes):
    module, models = audio_nodes
    with pytest.raises(MissingModelError) as err:
        module.LatentSync_WhisperLoader.execute(whisper_file="whisper/tiny.pt")
    message = str(err.value)
    assert "tiny.pt" in message and str(models) in message and module.WHISPER_URL in message


def test_embeds_node_matches_reference_and_fits_lengths(audio_nodes):
    module, models = audio_nodes
    (models / "whisper").mkdir(exist_ok=True)
    write_tiny_checkpoint(str(models / "whisper" / "tiny.pt"), seed=0)
    assert "whisper/tiny.pt" in module._whisper_choices()
    whisper = module.LatentSync_WhisperLoader.execute(whisper_file="whisper/tiny.pt").result[0]
    audio = {"waveform": read_wav("whisper_speech_9s.wav")[None], "sample_rate": 16000}

    embeds, fitted, count = module.LatentSync_LoadWhisperEmbeds.execute(
        whisper=whisper, audio=audio, fps=25.0, length_mode="pingpong").result
    assert count == 222 and embeds.embeddings.shape == (222, 50, 384) and embeds.fps == 25.0
    assert torch.equal(embeds.frame_map, torch.arange(222))
    assert fitted["waveform"].shape == (1, 1, 222 * 640)
    if whisper.model.encoder.conv1.weight.dtype == torch.float32:
        reference = np.load(os.path.join(DATA, "whisper_reference_9s.npz"))
        assert np.abs(embeds.embeddings[reference["frames"]].numpy() - reference["chunks"]).max() < 1e-4

    frames = torch.zeros(100, 8, 8, 3)
    embeds, fitted, count = module.LatentSync_LoadWhisperEmbeds.execute(
        whisper=whisper, audio=audio, fps=25.0, length_mode="pingpong", frames=frames).result
    assert count == 222 and int(embeds.frame_map[100]) == 99 and int(embeds.frame_map[199]) == 0
    embeds, fitted, count = module.LatentSync_LoadWhisperEmbeds.execute(
        whisper=whisper, audio=audio, fps=30.0, length_mode="pad_audio", frame_count=300).result
    assert count == 300 and fitted["waveform"].shape == (1, 1, 160000)
