"""ComfyUI nodes of nodes/audio.py, against a real ComfyUI checkout (opt-in: set COMFYUI_PATH)."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from audio_files import read_wav
from comfy_nodes import core, node_module, only_model_folders, requires_comfyui
from repo_paths import DATA
from whisper_checkpoint import write_tiny_checkpoint

pytestmark = requires_comfyui


@pytest.fixture(scope="module")
def audio_nodes(tmp_path_factory):
    module = node_module("audio")
    models = tmp_path_factory.mktemp("latentsync")
    with only_model_folders(latentsync=models):
        yield module, models


def test_loader_names_the_missing_file_folder_and_url(audio_nodes):
    module, models = audio_nodes
    with pytest.raises(core("errors").MissingModelError) as err:
        module.LatentSync_WhisperLoader.execute(whisper_file="LatentSync-1.6/whisper/tiny.pt")
    message = str(err.value)
    assert "tiny.pt" in message and str(models) in message and module.WHISPER_DEFAULT.url in message


def test_embeds_node_matches_reference_and_fits_lengths(audio_nodes):
    module, models = audio_nodes
    (models / "LatentSync-1.6" / "whisper").mkdir(parents=True, exist_ok=True)
    write_tiny_checkpoint(str(models / "LatentSync-1.6" / "whisper" / "tiny.pt"), seed=0)
    assert "LatentSync-1.6/whisper/tiny.pt" in module._whisper_choices()
    whisper = module.LatentSync_WhisperLoader.execute(whisper_file="LatentSync-1.6/whisper/tiny.pt").result[0]
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
