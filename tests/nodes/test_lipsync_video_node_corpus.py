"""The whole media-fidelity corpus (tests/support/media_corpus.py) through the streaming node, in process.

Each video case (lossy and ``crf`` 0) and each speech case goes through ``LatentSync_LipSyncVideo``
as ComfyUI hands it over: the source as core Load Video gives it (a ``VideoFromFile`` on its path),
the speech as core Load Audio gives it (``[1, C, T]`` at the file's own rate and layout). The models come from the real LatentSync Model
Loader node on random weights (the tiny UNet swapped in for the released config) and a narrow VAE in
ComfyUI's own VAE class (see ``node_env``). The node's file is judged with the corpus's checks,
as the command line's is in ``tests/unit/cli/test_media_corpus.py``: tags, face-less frames against a
plain re-encode (lossy) or plane by plane (lossless), frame count and timestamps, sound power, layout
and length. A real server with Save Video after the node runs the BT.709 HD, full-range and HLG cases
(``tests/integration/test_comfyui_media_corpus.py``); this module runs the rest of the matrix, all
marked ``slow``.
"""
from __future__ import annotations

import dataclasses
import os

import pytest
import torch

import media_corpus as mc
from comfy_nodes import core, node_module, only_model_folders, requires_comfyui
from player import ffmpeg_installed, player_rgb, reencode
from repo_paths import ROOT

pytestmark = [
    *requires_comfyui, pytest.mark.slow,
    pytest.mark.skipif(not ffmpeg_installed(),
                       reason="the corpus is made and judged by the ffmpeg command line: apt-get install ffmpeg"),
]


#: A narrow SD-style VAE (4 levels, 8x downscale, 4 latent channels, 32-channel blocks: ComfyUI's group norm
#: needs 32), in ComfyUI's layout for its VAE class and in diffusers' for the pack's copy of it.
SMALL_VAE = {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 32,
             "ch_mult": [1, 1, 1, 1], "num_res_blocks": 1, "attn_resolutions": [], "dropout": 0.0}


@pytest.fixture(scope="module")
def node_env(tmp_path_factory):
    """The streaming node, the loaded models, the corpus folder and ComfyUI's temp folder.

    UNet and Whisper come from the real Model Loader node (random weights; the tiny UNet swapped in for the
    released config, as ``test_lipsync_video_node.py`` does); the VAE is ComfyUI's own class on random
    weights in :data:`SMALL_VAE`'s narrow architecture, so that each case takes seconds, not minutes.
    """
    mp = pytest.MonkeyPatch()
    mp.syspath_prepend(os.path.join(ROOT, "tests", "integration"))
    from random_models import write_latentsync_models

    loader = node_module("model_loader")  # puts ComfyUI on the path
    node = node_module("lipsync_video")
    import comfy.sd
    import folder_paths
    from comfy.ldm.models.autoencoder import AutoencoderKL

    unet_config = core("lipsync.unet").LatentSyncUNetConfig.tiny()
    mp.setitem(core("lipsync.checkpoints").CONFIGS, "1.5", lambda: dataclasses.replace(unet_config, resolution=256))
    base = tmp_path_factory.mktemp("node_corpus")
    models = base / "models"
    write_latentsync_models(str(models))
    temp = base / "temp"
    temp.mkdir()
    mp.setattr(folder_paths, "get_temp_directory", lambda: str(temp))
    corpus = base / "corpus"
    corpus.mkdir()
    with only_model_folders(latentsync=models / "latentsync", vae=models / "vae"):
        out = loader.LatentSyncModelLoader.execute(
            "1.5", "LatentSync-1.5/latentsync_unet.pt", loader.AUTO_WHISPER, "vae-ft-mse-840000-ema-pruned.safetensors",
            "auto", False)
    model, whisper, _ = out.args if hasattr(out, "args") else out
    vae_module = core("lipsync.vae")
    mp.setattr(vae_module, "SD_VAE_CONFIG", {**vae_module.SD_VAE_CONFIG, "block_out_channels": [32] * 4,
                                             "layers_per_block": 1})
    params = {"embed_dim": 4, "ddconfig": SMALL_VAE}
    torch.manual_seed(5)
    vae = comfy.sd.VAE(sd=AutoencoderKL(**dict(params, ddconfig=dict(SMALL_VAE))).state_dict(), config={"params": params})
    yield node, (model, whisper, vae), corpus
    mp.undo()


def run_node(node_env, source, speech, crf: int) -> str:
    """The streaming node on ``source`` with ``speech`` (a file) as its AUDIO; the path of the file it wrote."""
    from comfy_api.v0_0_2 import InputImpl

    node, (model, whisper, vae), _ = node_env
    samples, rate, _ = mc.read_sound(speech)  # as Load Audio gives it: the file's own channels and rate
    schema = node.LatentSync_LipSyncVideo.define_schema()
    inputs = {s.id: s.default for s in schema.inputs if hasattr(s, "default")}
    inputs.update(video=InputImpl.VideoFromFile(os.fspath(source)),
                  audio={"waveform": torch.from_numpy(samples.copy())[None], "sample_rate": rate},
                  model=model, whisper=whisper, vae=vae, steps=2, guidance=1.0, length_mode="pad_audio", crf=crf)
    out = node.LatentSync_LipSyncVideo.execute(**inputs)
    return (out.args if hasattr(out, "args") else out)[0].get_stream_source()


@pytest.mark.parametrize("mode", ["lossy", "lossless"])
@pytest.mark.parametrize("video", list(mc.VIDEOS))
def test_video_case_keeps_what_a_viewer_sees(node_env, video, mode):
    corpus = node_env[2]
    source = mc.make_video(corpus, video)
    speech = mc.make_speech(corpus, "stereo")
    output = run_node(node_env, source, speech, 0 if mode == "lossless" else 18)
    reference = reencode(source, corpus / f"{video}.reference.mp4", mc.REFERENCE_SETTINGS)
    figures, failures = mc.measure_video(source, output, mode, (player_rgb(source), player_rgb(reference)))
    sound, sound_failures = mc.measure_sound(speech, output, seconds=mc.durations(source)["video"])
    mc.record(f"node-{video}-{mode}", {**figures, **sound}, failures + sound_failures)


@pytest.mark.parametrize("speech", list(mc.SPEECH))
def test_speech_case_is_heard_in_the_output(node_env, speech):
    corpus = node_env[2]
    expected = mc.make_speech(corpus, speech)
    output = run_node(node_env, mc.make_video(corpus, "bt601_sd"), expected, 18)
    figures, failures = mc.measure_sound(expected, output)
    video = mc.durations(output)["video"]
    if abs(video - mc.FRAMES / mc.FPS) > mc.TIME_TOLERANCE:
        failures.append(f"picture lasts {video:.3f} s, expected {mc.FRAMES / mc.FPS:.3f} s")
    mc.record(f"node-speech-{speech}", {**figures, "video_s": video}, failures)
