"""Face path in a real ComfyUI: align -> mouth ROI -> paste back, on a still and on a video.

The still is tests/data/astronaut.png (NASA, public domain) repeated into a few
frames; the video is synthesised here from it (a small drift per frame plus a
sine tone as the audio track) and run through ``example_workflows/face_align_roundtrip.json``
converted to an API prompt. Nothing is changed between align and paste, so the
pasted frames must come back close to the input frames.
"""
from __future__ import annotations

import io
import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from comfyui_client import ComfyUIClient, ComfyUIServer, Graph, workflow_to_prompt

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASTRONAUT = os.path.join(REPO, "tests", "data", "astronaut.png")
WORKFLOWS = os.path.join(REPO, "example_workflows")
FACE_BOX = (slice(0, 260), slice(130, 330))
"""Rows and columns of astronaut.png that hold the face (measured by eye, with a wide border)."""


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def write_talking_head(path: str, frames: int = 8, fps: int = 25, sample_rate: int = 16000) -> np.ndarray:
    """Write an H.264/AAC mp4 of the astronaut drifting right 2 px a frame, with a 440 Hz tone.

    Returns the frames written, ``(frames, 512, 512, 3)`` uint8.
    """
    import av

    photo = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    images = np.stack([np.roll(photo, 2 * i, axis=1) for i in range(frames)])
    with av.open(path, "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = photo.shape[1], photo.shape[0], "yuv420p"
        video.options = {"crf": "12"}
        audio = container.add_stream("aac", rate=sample_rate)
        audio.layout = "mono"
        for image in images:
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(video.encode())
        t = np.arange(int(sample_rate * frames / fps)) / sample_rate
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        chunk = 1024
        for start in range(0, tone.shape[1], chunk):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, start:start + chunk]), format="fltp", layout="mono")
            frame.sample_rate = sample_rate
            container.mux(audio.encode(frame))
        container.mux(audio.encode())
    return images


def test_face_path_on_a_still(comfyui: ComfyUIClient, comfyui_server: ComfyUIServer, object_info: dict) -> None:
    shutil.copy(ASTRONAUT, os.path.join(comfyui_server.folder("input"), "astronaut.png"))
    g = Graph(object_info)
    load = g.add("LoadImage", image="astronaut.png")
    frames = g.add("RepeatImageBatch", image=load[0], amount=3)
    align = g.add("LatentSync_FaceAlignAffine", images=frames[0], resolution="256", backend="mediapipe")
    roi = g.add("LatentSync_MouthROICrop", aligned_faces=align[0], alignment=align[1])
    paste = g.add("LatentSync_ROIPasteBlend", images=frames[0], aligned_faces=align[0], alignment=align[1],
                  mouth_roi=roi[0], region="full_face")
    save = g.add("SaveImage", images=paste[0], filename_prefix="latentsync_face_path")

    entry = comfyui.run(g.prompt, timeout=300)

    files = comfyui.output_files(entry, save.id)
    assert len(files) == 3
    source = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    for record in files:
        image = np.asarray(Image.open(io.BytesIO(comfyui.fetch(record))).convert("RGB"))
        assert image.shape == source.shape
        assert psnr(image, source) > 30.0
        changed = np.abs(image.astype(int) - source.astype(int)).max(axis=-1) > 2
        assert changed[FACE_BOX].sum() > 500, "the aligned face was not pasted back"
        outside = changed.copy()
        outside[FACE_BOX] = False
        assert not outside.any(), "pixels away from the face changed"


def test_face_align_roundtrip_workflow(comfyui: ComfyUIClient, comfyui_server: ComfyUIServer, object_info: dict) -> None:
    av = pytest.importorskip("av")
    with open(os.path.join(WORKFLOWS, "face_align_roundtrip.json"), encoding="utf-8") as f:
        prompt = workflow_to_prompt(json.load(f), object_info)
    (load_id,) = [node_id for node_id, node in prompt.items() if node["class_type"] == "LoadVideo"]
    (save_id,) = [node_id for node_id, node in prompt.items() if node["class_type"] == "SaveVideo"]
    written = write_talking_head(os.path.join(comfyui_server.folder("input"), prompt[load_id]["inputs"]["file"]))

    entry = comfyui.run(prompt, timeout=300)

    (record,) = comfyui.output_files(entry, save_id)
    with av.open(io.BytesIO(comfyui.fetch(record))) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        container.seek(0)
        audio = np.concatenate([frame.to_ndarray()[0] for frame in container.decode(audio=0)])
        sample_rate = container.streams.audio[0].sample_rate
    assert len(frames) == len(written)
    assert frames[0].shape == written[0].shape
    assert min(psnr(out, src) for out, src in zip(frames, written)) > 28.0
    assert abs(audio.size / sample_rate - len(written) / 25) < 0.1, "the audio track lost or gained time"
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * sample_rate / audio.size - 440) < 10, "the audio track is not the input's tone"
