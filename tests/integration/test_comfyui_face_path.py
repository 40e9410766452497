"""Face path in a real ComfyUI: align -> mouth ROI -> paste back, on a still and on a video.

The still is tests/data/astronaut.png (NASA, public domain) repeated into a few
frames; the video is synthesised here from it (a small drift per frame plus a
sine tone as the audio track) and run through ``example_workflows/face_align_roundtrip.json``
converted to an API prompt. Nothing is changed between align and paste, so the
pasted frames must come back close to the input frames.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from comfyui_client import ComfyUIClient, ComfyUIError, ComfyUIServer, Graph
from media import ASTRONAUT, VIDEO_FPS, load_example, prepare_inputs

FACE_BOX = (slice(0, 260), slice(130, 330))
"""Rows and columns of astronaut.png that hold the face (measured by eye, with a wide border)."""


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


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
    workflow, prompt = load_example("face_align_roundtrip", object_info)
    (written,) = prepare_inputs(workflow, comfyui_server.folder("input")).values()
    (save_id,) = [node_id for node_id, node in prompt.items() if node["class_type"] == "SaveVideo"]

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
    assert abs(audio.size / sample_rate - len(written) / VIDEO_FPS) < 0.1, "the audio track lost or gained time"
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * sample_rate / audio.size - 440) < 10, "the audio track is not the input's tone"


def test_missing_backend_package_reaches_the_user_as_one_message(comfyui: ComfyUIClient,
                                                                 comfyui_server: ComfyUIServer,
                                                                 object_info: dict) -> None:
    probe = subprocess.run([comfyui_server.python, "-c", "import importlib.util as u; print(u.find_spec('face_alignment') is None)"],
                           capture_output=True, text=True, check=True)
    if probe.stdout.strip() != "True":
        pytest.skip("face_alignment is installed in ComfyUI's environment")
    shutil.copy(ASTRONAUT, os.path.join(comfyui_server.folder("input"), "astronaut.png"))
    g = Graph(object_info)
    load = g.add("LoadImage", image="astronaut.png")
    align = g.add("LatentSync_FaceAlignAffine", images=load[0], backend="face_alignment")
    g.add("PreviewImage", images=align[0])

    with pytest.raises(ComfyUIError) as failure:
        comfyui.run(g.prompt, timeout=120)

    error = failure.value.execution_error
    assert error["node_type"] == "LatentSync_FaceAlignAffine"
    assert error["exception_type"].endswith("MissingDependencyError")
    assert "pip install face-alignment" in error["exception_message"]
