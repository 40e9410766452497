"""nodes/quality.py inside ComfyUI (opt-in: set COMFYUI_PATH): LatentSync_LipSyncQuality on a short face clip,
with a seeded-random syncnet_v2.model in a temporary models/syncnet folder."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from clips import face_frames
from comfy_nodes import core, node_module, only_model_folders, requires_comfyui
from syncnet_fixtures import random_weights

pytestmark = requires_comfyui


@pytest.fixture(scope="module")
def quality():
    return node_module("quality")


def test_schema_has_tooltips_and_is_registered(quality):
    schema = quality.LipSyncQuality.define_schema()
    assert schema.node_id == "LatentSync_LipSyncQuality" and schema.category == "LatentSync"
    assert all(inp.tooltip for inp in schema.inputs) and all(out.tooltip for out in schema.outputs)
    assert quality.LipSyncQuality in node_module("__init__").quality.NODES


def test_node_reports_sync_and_identity(quality, tmp_path):
    torch.set_num_threads(1)
    net = core("metrics.syncnet").SyncNet()
    torch.save(random_weights(net.state_dict(), 3), tmp_path / "syncnet_v2.model")
    frames = torch.from_numpy(face_frames(8)).float() / 255.0
    rng = np.random.default_rng(0)
    audio = {"waveform": torch.from_numpy(rng.uniform(-0.3, 0.3, (1, 2, 8 * 1764)).astype(np.float32)), "sample_rate": 44100}
    _, alignment = core("face.aligner").FaceAligner(core("face.landmarks").get_backend("mediapipe")).align(frames)
    with only_model_folders(syncnet=tmp_path):
        out = quality.LipSyncQuality.execute(frames, 25.0, False, audio=audio, source=frames, alignment=alignment)
    table, report = out.result[0], json.loads(out.result[1])
    assert "LSE-C" in table and out.ui.as_dict() == {"text": (table,)}
    assert report["sync"]["windows"] == 3 and report["face_frames"] == 8
    assert report["identity_outside_mouth"] == {"psnr_db": "inf", "ssim": 1.0}


def test_missing_syncnet_without_download_names_file_and_url(quality, tmp_path):
    frames = torch.from_numpy(face_frames(2)).float() / 255.0
    audio = {"waveform": torch.zeros(1, 1, 3200), "sample_rate": 16000}
    with only_model_folders(syncnet=tmp_path), pytest.raises(core("errors").MissingModelError, match="syncnet_v2.model.*robots.ox.ac.uk"):
        quality.LipSyncQuality.execute(frames, 25.0, False, audio=audio)


def test_without_audio_measures_images_only(quality):
    frames = torch.from_numpy(face_frames(3)).float() / 255.0
    out = quality.LipSyncQuality.execute(frames, 25.0, False)
    report = json.loads(out.result[1])
    assert report["sync"] is None and report["sync_note"] == "no audio connected"
    assert report["mouth_sharpness"]["laplacian_variance"] > 0
