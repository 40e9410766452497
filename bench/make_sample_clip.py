"""Make the bundled sample clip ``example_workflows/sample/astronaut_speech.mp4``.

The picture is ``tests/data/astronaut.png`` (NASA portrait of Eileen Collins,
public domain) filmed by a virtual camera: a slow zoom from the whole portrait
onto the face, a short cutaway to the shuttle model (no face: those frames
must pass through unchanged), then back to the face with a slow pan. The sound
is English speech synthesised by espeak-ng (voice en-us, 165 words/min).
3 s at 25 fps, 512x512, H.264 (crf 20) + AAC mono 64 kb/s, under 1 MB.

Run from the repository root (needs the ``espeak-ng`` program)::

    python bench/make_sample_clip.py [--output PATH]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import wave
from fractions import Fraction

import av
import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = os.path.join(ROOT, "tests", "data", "astronaut.png")
OUTPUT = os.path.join(ROOT, "example_workflows", "sample", "astronaut_speech.mp4")
TEXT = "Hello from the space shuttle. Let's sync these lips."
FPS = 25
SECONDS = 3
SIZE = 512
# Camera keyframes: (frame, centre x, centre y, side of the square view) in image pixels.
FACE_SHOT = [(0, 256.0, 256.0, 512.0), (44, 224.0, 140.0, 260.0)]
CUTAWAY = (45, 52, (405.0, 175.0, 230.0))
RETURN_SHOT = [(53, 214.0, 150.0, 280.0), (74, 236.0, 146.0, 250.0)]


def _ease(t: float) -> float:
    return t * t * (3.0 - 2.0 * t)


def _camera(shot: list[tuple[int, float, float, float]], i: int) -> tuple[float, float, float]:
    (f0, *a), (f1, *b) = shot
    t = _ease((i - f0) / (f1 - f0))
    return tuple(float(x + t * (y - x)) for x, y in zip(a, b))


def render_frames(image: np.ndarray) -> np.ndarray:
    """``(75, 512, 512, 3)`` uint8 RGB frames of the virtual camera."""
    frames = []
    for i in range(FPS * SECONDS):
        if i < CUTAWAY[0]:
            cx, cy, side = _camera(FACE_SHOT, i)
        elif i <= CUTAWAY[1]:
            cx, cy, side = CUTAWAY[2]
        else:
            cx, cy, side = _camera(RETURN_SHOT, i)
        s = SIZE / side
        m = np.array([[s, 0.0, SIZE / 2 - s * cx], [0.0, s, SIZE / 2 - s * cy]])
        frames.append(cv2.warpAffine(image, m, (SIZE, SIZE), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT))
    return np.stack(frames)


def speech(seconds: float, text: str = TEXT, voice: str = "en-us") -> tuple[np.ndarray, int]:
    """espeak-ng speech of ``text`` in ``voice``, ``(1, samples)`` float32 in -1..1, cut or padded to ``seconds``."""
    with tempfile.TemporaryDirectory() as tmp:
        wav_path = os.path.join(tmp, "speech.wav")
        subprocess.run(["espeak-ng", "-v", voice, "-s", "165", "-w", wav_path, text], check=True)
        with wave.open(wav_path) as wav:
            rate = wav.getframerate()
            pcm = np.frombuffer(wav.readframes(wav.getnframes()), np.int16)
    samples = int(round(seconds * rate))
    audio = np.zeros(samples, np.float32)
    audio[: min(samples, len(pcm))] = pcm[:samples] / 32768.0
    return audio[None], rate


def write_clip(path: str, frames: np.ndarray, audio: np.ndarray, rate: int) -> None:
    with av.open(path, "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.height, video.width = frames.shape[1:3]
        video.pix_fmt = "yuv420p"
        video.options = {"crf": "20", "preset": "slow"}
        sound = container.add_stream("aac", rate=rate, layout="mono")
        sound.bit_rate = 64000
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        frame = av.AudioFrame.from_ndarray(audio, format="flt", layout="mono")
        frame.sample_rate, frame.pts = rate, 0
        for out in av.AudioResampler(format="fltp", layout="mono", rate=rate).resample(frame):
            container.mux(sound.encode(out))
        container.mux(sound.encode(None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=OUTPUT)
    args = parser.parse_args()
    image = cv2.cvtColor(cv2.imread(IMAGE, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    audio, rate = speech(SECONDS)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    write_clip(args.output, render_frames(image), audio, rate)
    print(f"wrote {args.output}: {os.path.getsize(args.output) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
