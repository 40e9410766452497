"""``example_workflows/enhance_lipsynced_video.json`` end to end in a real ComfyUI.

Seeded random-weight GFPGAN v1.4 and CodeFormer files, in the official layouts
(``{"params_ema": state_dict}`` ``.pth``, keys and shapes of the official networks,
weights from ``tests/support/restorer_weights.seeded_state_dict``), are written into
the server's ``models/facerestore_models`` under the official file names the
workflow picks. The input is a short synthesised talking-head clip (the astronaut
drifting 2 px a frame, with a 440 Hz tone; ``media.write_talking_head``).

The workflow runs twice: as saved (every mouth is upscaled far more than
``sr_ratio`` 1, so both restorers run on every frame), and with ``sr_ratio`` at its
maximum 16 on both restore nodes, so that no frame qualifies and the same pipeline
(decode, align, paste, re-encode) runs without restoration. Comparing the two
outputs frame by frame isolates what restoration changed from what re-encoding
changed: the restored mouths must differ strongly, and only inside the mouth
footprint. Random weights make the "restored" mouths nonsense, which is what
makes the change visible; they say nothing about restoration quality.

The run without restoration must leave every frame as decoded, bit for bit. The
video out cannot show that (CreateVideo + SaveVideo re-encode H.264 yuv420p, lossy,
with no lossless option), so that run also saves the decoded input frames and the
paste node's output as PNG (lossless, through SaveImage) and compares those.
"""
from __future__ import annotations

import copy
import io
import os
from collections.abc import Iterator

import numpy as np
import pytest

from comfyui_client import ComfyUIClient, ComfyUIServer
from media import VIDEO_FPS, load_example, write_talking_head

FRAMES = 4
"""Random-weight GFPGAN + CodeFormer cost several seconds per frame on CPU."""
MOUTH_BOX = (slice(96, 208), slice(176, 272))
"""Rows and columns of the clip (multiples of :data:`BLOCK`) that hold the pasted mouth
ROI in every frame: the blocks seen changing (rows 112-192, columns 192-256) plus one
block on every side for the 2 px/frame drift and the feathered edge."""
BLOCK = 16
"""Side of the blocks compared: H.264's macroblock."""
CHANGED = 10.0
"""A block counts as changed when its mean absolute difference exceeds this (of 255).
Measured: restored mouth blocks 18-46; elsewhere, where only the encoder's
decisions differ between the two runs, at most 6."""


@pytest.fixture(scope="module")
def restorer_files(comfyui_server: ComfyUIServer) -> Iterator[str]:
    """Write the random-weight ``GFPGANv1.4.pth`` and ``codeformer.pth`` (deleted after the module's tests)."""
    pytest.importorskip("torch")
    pytest.importorskip("spandrel_extra_arches")
    from random_models import write_restorers

    paths = write_restorers(comfyui_server.folder("models"))
    yield os.path.dirname(paths[0])
    for path in paths:
        os.remove(path)


def decode(data: bytes) -> tuple[list[np.ndarray], float, np.ndarray, int]:
    """Frames ``(H, W, 3)`` uint8, frame rate, mono audio and its sample rate of an mp4."""
    import av

    with av.open(io.BytesIO(data)) as container:
        fps = float(container.streams.video[0].average_rate)
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        container.seek(0)
        audio = np.concatenate([frame.to_ndarray()[0] for frame in container.decode(audio=0)])
        sample_rate = container.streams.audio[0].sample_rate
    return frames, fps, audio, sample_rate


def run_workflow(comfyui: ComfyUIClient, prompt: dict) -> tuple[list[np.ndarray], float, np.ndarray, int, list[str], dict]:
    """Run the prompt; return its decoded video, the texts its PreviewAny nodes showed and its history entry."""
    (save_id,) = [node_id for node_id, node in prompt.items() if node["class_type"] == "SaveVideo"]
    previews = sorted((node_id for node_id, node in prompt.items() if node["class_type"] == "PreviewAny"), key=int)
    entry = comfyui.run(prompt, timeout=900)
    (record,) = comfyui.output_files(entry, save_id)
    reports = [text for node_id in previews for text in entry["outputs"][node_id]["text"]]
    return (*decode(comfyui.fetch(record)), reports, entry)


def save_png(prompt: dict, node_id: str, class_type: str) -> None:
    """Add a SaveImage node ``node_id`` on the IMAGE output 0 of the prompt's ``class_type`` node."""
    (source,) = [i for i, node in prompt.items() if node["class_type"] == class_type]
    prompt[node_id] = {"class_type": "SaveImage", "inputs": {"images": [source, 0], "filename_prefix": node_id}}


def pngs(comfyui: ComfyUIClient, entry: dict, node_id: str) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 frames a SaveImage node of the prompt wrote."""
    from PIL import Image

    return np.stack([np.asarray(Image.open(io.BytesIO(comfyui.fetch(record))).convert("RGB"))
                     for record in comfyui.output_files(entry, node_id)])


def block_change(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(H / BLOCK, W / BLOCK)`` mean absolute difference of two uint8 RGB frames per block."""
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64)).mean(axis=-1)
    h, w = diff.shape
    return diff.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).mean(axis=(1, 3))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def test_enhance_lipsynced_video_workflow(comfyui: ComfyUIClient, comfyui_server: ComfyUIServer,
                                          object_info: dict, restorer_files: str) -> None:
    pytest.importorskip("av")
    workflow, prompt = load_example("enhance_lipsynced_video", object_info)
    (video_name,) = [node["widgets_values"][0] for node in workflow["nodes"] if node["type"] == "LoadVideo"]
    written = write_talking_head(os.path.join(comfyui_server.folder("input"), video_name), frames=FRAMES)
    restore_ids = [node_id for node_id, node in prompt.items()
                   if node["class_type"] in ("LatentSync_GFPGANRestore", "LatentSync_CodeFormerRestore")]
    assert len(restore_ids) == 2
    unrestored_prompt = copy.deepcopy(prompt)
    for node_id in restore_ids:
        unrestored_prompt[node_id]["inputs"]["sr_ratio"] = 16.0
    save_png(unrestored_prompt, "decoded_png", "GetVideoComponents")
    save_png(unrestored_prompt, "pasted_png", "LatentSync_ROIPasteBlend")

    frames, fps, audio, sample_rate, reports, _ = run_workflow(comfyui, prompt)
    plain, plain_fps, _, _, plain_reports, plain_entry = run_workflow(comfyui, unrestored_prompt)
    decoded, pasted = pngs(comfyui, plain_entry, "decoded_png"), pngs(comfyui, plain_entry, "pasted_png")
    assert decoded.shape == (FRAMES, *written.shape[1:])
    assert np.array_equal(pasted, decoded), "the pipeline without restoration changed a frame"

    assert reports == [f"GFPGAN: restored {FRAMES} of {FRAMES} frames", f"CodeFormer: restored {FRAMES} of {FRAMES} frames"]
    assert plain_reports == [f"GFPGAN: restored 0 of {FRAMES} frames", f"CodeFormer: restored 0 of {FRAMES} frames"]
    assert len(frames) == len(plain) == FRAMES
    assert frames[0].shape == written[0].shape
    assert fps == plain_fps == VIDEO_FPS
    assert abs(audio.size / sample_rate - FRAMES / VIDEO_FPS) < 0.1, "the audio track lost or gained time"
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * sample_rate / audio.size - 440) < 10, "the audio track is not the input's tone"

    inside = np.zeros((written.shape[1] // BLOCK, written.shape[2] // BLOCK), dtype=bool)
    inside[MOUTH_BOX[0].start // BLOCK:MOUTH_BOX[0].stop // BLOCK,
           MOUTH_BOX[1].start // BLOCK:MOUTH_BOX[1].stop // BLOCK] = True
    outside_pixels = ~np.kron(inside, np.ones((BLOCK, BLOCK), dtype=bool))
    for index, (out, ref, src) in enumerate(zip(frames, plain, written)):
        assert psnr(ref, src) > 30.0, f"frame {index}: the re-encoded video is far from the input"
        change = block_change(out, ref)
        assert (change[inside] > CHANGED).sum() >= 8, f"frame {index}: the restored mouth was not pasted back"
        assert change[~inside].max() < CHANGED, (
            f"frame {index}: blocks outside the mouth changed:\n{np.round(change).astype(int)}")
        drift = np.abs(out.astype(np.int16) - ref.astype(np.int16))[outside_pixels].mean()
        assert drift < 1.0, f"frame {index}: mean difference {drift:.2f} outside the mouth"
