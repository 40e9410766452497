"""The bad-input corpus through the nodes, in-process in ComfyUI (set COMFYUI_PATH; see tests/support/comfy_nodes.py).

Face Align and ROI Paste & Blend get odd IMAGE batches (empty, one frame, 4x4, odd sizes, gray,
RGBA); Whisper Embeds gets the corpus audio (zero-length, silent, mono, 8 channels, 8 and 96 kHz).
Each case passes through correctly or stops with the one-line error ComfyUI shows the user.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import corpus
from comfy_nodes import core, node_module, requires_comfyui

pytestmark = requires_comfyui



def _image_cases() -> dict[str, torch.Tensor]:
    """IMAGE batches [N, H, W, C] float 0..1 as other nodes may hand them over."""
    rng = np.random.default_rng(0)
    rgb = lambda n, h, w: torch.from_numpy(rng.random((n, h, w, 3), dtype=np.float32))  # noqa: E731
    return {
        "1-frame": rgb(1, 64, 48),
        "2-frames": rgb(2, 64, 48),
        "4x4": rgb(2, 4, 4),
        "17x31": rgb(2, 31, 17),
        "gray": rgb(2, 64, 48)[..., :1],
        "rgba": torch.cat([rgb(2, 64, 48), torch.ones(2, 64, 48, 1)], dim=-1),
    }


@pytest.mark.parametrize("case", ["0-frames", *_image_cases()])
def test_face_nodes_on_odd_frames(case):
    """Face Align -> ROI Paste & Blend: odd frames pass through unchanged (no face), an empty batch is one line."""
    face = node_module("face")
    errors = core("errors")
    if case == "0-frames":
        with pytest.raises(errors.BadInputError, match="the batch is empty.*connect a video"):
            face.FaceAlignAffine.execute(torch.zeros(0, 64, 48, 3), "256", "mediapipe", "largest", 0, 0.2, 4, False)
        return
    images = _image_cases()[case]
    aligned, alignment, mask = face.FaceAlignAffine.execute(images, "256", "mediapipe", "largest", 0, 0.2, 4, False).args
    assert aligned.shape == (images.shape[0], 256, 256, 3) and float(mask.max()) == 0.0
    pasted = face.ROIPasteBlend.execute(images, aligned, alignment, 0.5, "mean_std", "auto").args[0]
    rgb = images[..., :3].expand(-1, -1, -1, 3) if images.shape[-1] != 4 else images[..., :3]
    assert torch.equal(pasted, rgb)


@pytest.mark.parametrize("case", list(corpus.AUDIO))
def test_whisper_embeds_node_on_odd_audio(folder, small_encoder, case):
    import comfy.model_patcher

    audio_nodes = node_module("audio")
    errors = core("errors")
    waveform, rate = corpus.waveform(folder, case)
    whisper = comfy.model_patcher.ModelPatcher(small_encoder, load_device=torch.device("cpu"), offload_device=torch.device("cpu"))
    run = lambda: audio_nodes.LatentSync_LoadWhisperEmbeds.execute(  # noqa: E731
        whisper, {"waveform": waveform, "sample_rate": rate}, 25.0, "pingpong", frame_count=12)
    if corpus.AUDIO[case][2] == 0:
        with pytest.raises(errors.BadInputError, match=r"too short \(0 samples"):
            run()
        return
    embeds, audio, count = run().args
    assert count == 13 and embeds.embeddings.shape == (13, 20, 32)
    assert audio["sample_rate"] == rate and audio["waveform"].shape[:2] == waveform.shape[:2]
