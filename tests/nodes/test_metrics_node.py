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


def test_node_reports_each_speakers_lip_sync(quality, tmp_path):
    """With LatentSync Speaker nodes chained into ``speakers`` (no audio input): a row and a JSON entry per speaker,
    in the chain's order, each their own face (recognised across a swap of places) against their own track."""
    from speaker_clips import two_person_clip

    torch.set_num_threads(1)
    torch.save(random_weights(core("metrics.syncnet").SyncNet().state_dict(), 3), tmp_path / "syncnet_v2.model")
    clip = two_person_clip()[0]
    frames = torch.from_numpy(np.concatenate([np.repeat(clip[:1], 4, axis=0), np.repeat(clip[3:4], 4, axis=0)])).float() / 255.0
    t = torch.arange(8 * 640) / 16000
    tracks = [{"waveform": (0.3 * torch.sin(2 * torch.pi * pitch * t) * torch.sin(2 * torch.pi * 5 * t))[None, None],
               "sample_rate": 16000} for pitch in (140.0, 230.0)]
    speaker = node_module("speakers").LatentSync_Speaker

    def chain(order):
        speakers = None
        for k in order:
            result = speaker.execute(tracks[k], frame=0, face_from_left=k, speakers=speakers)
            speakers = (result.args if hasattr(result, "args") else result)[0]
        return speakers

    with only_model_folders(syncnet=tmp_path):
        out = quality.LipSyncQuality.execute(frames, 25.0, False, speakers=chain((0, 1)))
        swapped = json.loads(quality.LipSyncQuality.execute(frames, 25.0, False, speakers=chain((1, 0))).result[1])
    table, report = out.result[0], json.loads(out.result[1])
    assert report["sync_note"] == "no audio connected"
    assert [line.split(":")[0] for line in table.splitlines() if line.startswith("speaker ")] == ["speaker 1", "speaker 2"]
    entries = report["speakers"]
    assert [(e["speaker"], e["sync"]["first_frame"], e["sync"]["last_frame"], e["sync"]["windows"]) for e in entries] == [
        (1, 0, 7, 3), (2, 0, 7, 3)]
    assert entries[0]["sync"]["lse_d"] != entries[1]["sync"]["lse_d"]
    assert [e["sync"] for e in swapped["speakers"]] == [entries[1]["sync"], entries[0]["sync"]]
