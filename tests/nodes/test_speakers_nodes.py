"""LatentSync Speaker (chained into a list) and the streaming node with speakers, inside ComfyUI (opt-in).

The streaming node runs on the first shot of tests/support/speaker_clips.py (two people side by side,
2 frames, a lossless .mkv given as core Load Video gives it) with models from the real Model Loader
node (tiny random UNet at 256 px, random Whisper tiny, a full-size random SD VAE, as
test_lipsync_video_node.py; 2 frames because the full-size VAE is slow on a CPU). Checked: each Speaker node adds its speaker to the list it is given (a
reference picture or a frame / face index); the streaming node changes both faces, writes the
speakers' mix (or the audio input, as the mix) and refuses a run with neither audio nor speakers.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import torch

from comfy_nodes import core, node_module, only_model_folders, requires_comfyui
from repo_paths import ROOT

pytestmark = requires_comfyui

av = pytest.importorskip("av")


def _audio(seconds: float, pitch: float) -> dict:
    t = torch.arange(round(seconds * 16000)) / 16000
    return {"waveform": (0.3 * torch.sin(2 * torch.pi * pitch * t))[None, None], "sample_rate": 16000}


def _out(result):
    return (result.args if hasattr(result, "args") else result)[0]


def test_speaker_nodes_chain_into_a_list():
    node = node_module("speakers").LatentSync_Speaker
    identity = core("face.identity")
    picture = torch.rand(1, 64, 48, 3)
    first = _out(node.execute(_audio(0.1, 140.0), frame=0, face_from_left=0, reference=picture))
    both = _out(node.execute(_audio(0.2, 230.0), frame=12, face_from_left=1, speakers=first))
    assert len(first) == 1 and len(both) == 2 and both[0] is first[0]
    assert both[0].face.shape == (64, 48, 3) and both[0].face.dtype == np.uint8
    assert both[1].face == identity.FacePosition(12, 1) and both[1].waveform.shape == (1, 3200)
    bad = {"waveform": torch.zeros(2, 1, 100), "sample_rate": 16000}
    with pytest.raises(core("errors").BadInputError, match="one clip per speaker"):
        node.execute(bad, frame=0, face_from_left=0)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.syspath_prepend(os.path.join(ROOT, "tests", "integration"))
    from lipsync_cli import write_lossless
    from random_models import write_latentsync_models
    from speaker_clips import two_person_clip

    loader = node_module("model_loader")
    checkpoints = core("lipsync.checkpoints")
    tiny = dataclasses.replace(core("lipsync.unet").LatentSyncUNetConfig.tiny(), resolution=256)
    mp.setitem(checkpoints.CONFIGS, "1.5", lambda: tiny)
    import folder_paths

    base = tmp_path_factory.mktemp("speakers_node")
    write_latentsync_models(str(base / "models"))
    temp = base / "temp"
    temp.mkdir()
    mp.setattr(folder_paths, "get_temp_directory", lambda: str(temp))
    with only_model_folders(latentsync=base / "models" / "latentsync", vae=base / "models" / "vae"):
        out = loader.LatentSyncModelLoader.execute(
            "1.5", "LatentSync-1.5/latentsync_unet.pt", loader.AUTO_WHISPER, "vae-ft-mse-840000-ema-pruned.safetensors",
            "auto", False)
        frames = two_person_clip()[0][:2]
        clip = write_lossless(base / "two.mkv", frames)
        yield node_module("lipsync_video"), out.args if hasattr(out, "args") else out, clip, frames
    mp.undo()


def _run(env, **inputs):
    from comfy_api.v0_0_2 import InputImpl

    node, (model, whisper, vae), clip, _ = env
    values = {s.id: s.default for s in node.LatentSync_LipSyncVideo.define_schema().inputs if hasattr(s, "default")}
    values.update(video=InputImpl.VideoFromFile(clip), model=model, whisper=whisper, vae=vae, steps=1, guidance=1.0,
                  crf=0, **inputs)
    return _out(node.LatentSync_LipSyncVideo.execute(**values)).get_stream_source()


@pytest.mark.slow  # about 3 minutes on a shared 2-core CPU: the full-size VAE
def test_streaming_node_lip_syncs_each_speaker_and_writes_their_mix(env):
    from speaker_clips import face_box

    speaker = node_module("speakers").LatentSync_Speaker
    chain = _out(speaker.execute(_audio(0.08, 140.0), frame=0, face_from_left=0))
    chain = _out(speaker.execute(_audio(0.04, 230.0), frame=0, face_from_left=1, speakers=chain))
    path = _run(env, speakers=chain)
    frames = env[3]
    with av.open(path) as container:
        out = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
        container.seek(0)
        seconds = sum(f.samples for f in container.decode(audio=0)) / container.streams.audio[0].sample_rate
    assert out.shape == frames.shape
    for slot in ("left", "right"):
        x0, y0, x1, y1 = face_box(slot)
        assert (np.abs(out[:, y0:y1, x0:x1].astype(int) - frames[:, y0:y1, x0:x1]).max(axis=(1, 2, 3)) > 40).all(), slot
    assert abs(seconds - 0.08) < 0.07
    with pytest.raises(core("errors").BadInputError, match="audio input, or LatentSync Speaker"):
        _run(env)


def test_face_align_follows_the_reference_picture():
    from speaker_clips import face_box, tile, two_person_clip

    node = node_module("face").FaceAlignAffine
    frames = two_person_clip()[0][[0, 3]]  # hopper on the right, then (after a cut) on the left
    inputs = {s.id: s.default for s in node.define_schema().inputs if hasattr(s, "default")}
    inputs.update(images=torch.from_numpy(frames).float() / 255, landmark_cache=False,
                  reference=torch.from_numpy(tile("hopper")).float()[None] / 255)
    _, alignment, mask = _out_all(node.execute(**inputs))
    assert mask.amax(dim=(1, 2)).tolist() == [1.0, 1.0]
    r = alignment.resolution
    for i, slot in enumerate(("right", "left")):
        m = np.vstack([alignment.aligned_affines()[i], [0, 0, 1]])
        x, y = (np.linalg.inv(m) @ np.array([r / 2, r / 2, 1.0]))[:2]
        x0, y0, x1, y1 = face_box(slot)
        assert x0 <= x <= x1 and y0 <= y <= y1, slot


def _out_all(result):
    return result.args if hasattr(result, "args") else result
