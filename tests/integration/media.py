"""Inputs for the integration workflows, made from tests/data/astronaut.png (NASA, public domain)."""
from __future__ import annotations

import json
import os

import numpy as np
from PIL import Image

from comfyui_client import workflow_to_prompt

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASTRONAUT = os.path.join(REPO, "tests", "data", "astronaut.png")
WORKFLOWS = os.path.join(REPO, "example_workflows")
SAMPLE_DIR = os.path.join(WORKFLOWS, "sample")
"""The bundled sample clip and speech the example workflows load."""
VIDEO_FPS = 25


def example_names() -> list[str]:
    """Names (without ``.json``) of the workflows in ``example_workflows/``."""
    return sorted(name[:-5] for name in os.listdir(WORKFLOWS) if name.endswith(".json"))


def load_example(name: str, object_info: dict) -> tuple[dict, dict[str, dict]]:
    """``example_workflows/<name>.json`` as saved from the canvas, and as an API prompt."""
    with open(os.path.join(WORKFLOWS, name + ".json"), encoding="utf-8") as f:
        workflow = json.load(f)
    return workflow, workflow_to_prompt(workflow, object_info)


def write_talking_head(path: str, frames: int = 8, sample_rate: int = 16000) -> np.ndarray:
    """Write an H.264/AAC mp4 of the astronaut drifting right 2 px a frame, with a 440 Hz tone.

    Returns the frames written, ``(frames, 512, 512, 3)`` uint8 RGB; the video
    runs at :data:`VIDEO_FPS` and its mono audio lasts as long as the frames.
    """
    import av

    photo = np.asarray(Image.open(ASTRONAUT).convert("RGB"))
    images = np.stack([np.roll(photo, 2 * i, axis=1) for i in range(frames)])
    with av.open(path, "w") as container:
        video = container.add_stream("libx264", rate=VIDEO_FPS)
        video.width, video.height, video.pix_fmt = photo.shape[1], photo.shape[0], "yuv420p"
        video.options = {"crf": "12"}
        audio = container.add_stream("aac", rate=sample_rate)
        audio.layout = "mono"
        for image in images:
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(video.encode())
        t = np.arange(int(sample_rate * frames / VIDEO_FPS)) / sample_rate
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        for start in range(0, tone.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, start:start + 1024]), format="fltp",
                                               layout="mono")
            frame.sample_rate = sample_rate
            container.mux(audio.encode(frame))
        container.mux(audio.encode())
    return images


SPEECH_SECONDS = 0.24
"""Default length of the :func:`write_speech` clips: 6 frames at :data:`VIDEO_FPS`."""


def write_speech(path: str, seconds: float = SPEECH_SECONDS, sample_rate: int = 16000, pitch: float = 140.0) -> np.ndarray:
    """Write a mono 16-bit WAV of a speech-like sound: a ``pitch`` Hz buzz with harmonics, opened and
    closed four times a second like syllables. Returns the samples written, float32 in -1..1."""
    import wave

    t = np.arange(round(seconds * sample_rate)) / sample_rate
    buzz = sum(np.sin(2 * np.pi * pitch * k * t) / k for k in range(1, 6))
    samples = (0.25 * (0.5 - 0.5 * np.cos(2 * np.pi * 4 * t)) * buzz).astype(np.float32)
    with wave.open(path, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes((samples * 32767).astype("<i2").tobytes())
    return samples


def prepare_inputs(workflow: dict, input_dir: str, video_frames: int = 8,
                   speech_seconds: float = SPEECH_SECONDS) -> dict[str, np.ndarray]:
    """Write every file a workflow's LoadVideo/LoadImage/LoadAudio nodes name into ``input_dir``.

    Videos are :func:`write_talking_head` clips, images the astronaut photo, audio
    :func:`write_speech` clips of ``speech_seconds``. Returns per file name the frames written,
    ``(N, H, W, 3)`` uint8, or the audio samples, ``(T,)`` float32.
    """
    written = {}
    for node in workflow["nodes"]:
        if node["type"] == "LoadVideo":
            name = node["widgets_values"][0]
            written[name] = write_talking_head(os.path.join(input_dir, name), frames=video_frames)
        elif node["type"] == "LoadImage":
            name = node["widgets_values"][0]
            photo = Image.open(ASTRONAUT).convert("RGB")
            photo.save(os.path.join(input_dir, name))
            written[name] = np.asarray(photo)[None]
        elif node["type"] == "LoadAudio":
            name = node["widgets_values"][0]
            written[name] = write_speech(os.path.join(input_dir, name), speech_seconds)
    return written
