"""Short video files for tests: synthesised clips (PyAV) and what a test reads back from a file."""
from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np


def make_clip(
    path,
    n: int = 12,
    fps: Fraction = Fraction(25),
    size: tuple[int, int] = (64, 48),
    audio: str | None = "aac",
    sample_rate: int = 16000,
    pts: list[int] | None = None,
    time_base: Fraction | None = None,
    fmt: str | None = None,
    codec: str = "libx264",
    frames: np.ndarray | None = None,
    rotation: int = 0,
    gop: int | None = None,
) -> np.ndarray:
    """Write a test clip; return its ``(N, H, W, 3)`` uint8 frames.

    Frames are smooth colour ramps that change with the frame index (they
    survive H.264 nearly unchanged). ``audio`` names an audio encoder (None: no
    audio track); the sound is a 440 Hz tone as long as the video. ``pts``
    gives explicit frame timestamps in ``time_base`` ticks (variable rate).
    ``codec`` ``"ffv1"`` (lossless, any size) allows odd frame sizes.
    ``frames`` (``(N, H, W, 3)`` uint8) replaces the ramps (``n`` and ``size`` follow it).
    ``rotation`` sets the display matrix (counter-clockwise degrees), as phones do.
    ``gop``: a key frame every ``gop`` frames (H.264 with B-frames; None: the encoder's default).
    """
    if frames is None:
        w, h = size
        yy, xx = np.mgrid[0:h, 0:w]
        frames = np.stack(
            [np.stack([(xx * 3 + i * 9) % 256, (yy * 4 + i * 5) % 256, np.full_like(xx, 40 + i * 7 % 200)], -1)
             for i in range(n)]
        ).astype(np.uint8)
    n, h, w = frames.shape[:3]
    time_base = time_base or 1 / fps
    pts = list(range(n)) if pts is None else pts
    container = av.open(os.fspath(path), "w", format=fmt)
    video = container.add_stream(codec, rate=fps)
    video.width, video.height = w, h
    video.pix_fmt = "yuv420p" if codec == "libx264" else "yuv444p"
    video.codec_context.time_base = time_base
    if codec == "libx264":
        video.options = {"crf": "10"}
    if gop is not None:
        video.codec_context.gop_size = gop
    if rotation:
        video.set_display_rotation(rotation)
    astream = container.add_stream(audio, rate=sample_rate, layout="mono") if audio else None
    for image, t in zip(frames, pts):
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = t, time_base
        container.mux(video.encode(frame))
    container.mux(video.encode(None))
    if astream is not None:
        seconds = float((pts[-1] + (pts[-1] - pts[-2] if n > 1 else 1)) * time_base)
        t = np.arange(int(sample_rate * seconds)) / sample_rate
        wav = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        resampler = av.AudioResampler(format=astream.codec_context.format.name, layout="mono", rate=sample_rate)
        frame = av.AudioFrame.from_ndarray(wav, format="flt", layout="mono")
        frame.sample_rate, frame.pts = sample_rate, 0
        for out in resampler.resample(frame):
            container.mux(astream.encode(out))
        container.mux(astream.encode(None))
    container.close()
    return frames


def packets(path, kind: str) -> list[av.Packet]:
    with av.open(os.fspath(path)) as container:
        streams = getattr(container.streams, kind)
        if not streams:
            return []
        return [p for p in container.demux(streams[0]) if p.size]


def frame_times(path) -> list[Fraction]:
    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        return sorted(Fraction(p.pts) * stream.time_base for p in container.demux(stream) if p.size)


def decode_video(path) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 RGB as a player shows the file: YUV with its tagged matrix, untagged HD
    (height >= 720 or width >= 1280) as BT.709 and untagged SD as BT.601."""
    tagged = {1, 4, 5, 6, 7, 9, 10}  # AVCOL_SPC_* swscale converts
    with av.open(os.fspath(path)) as container:
        frames = []
        for f in container.decode(video=0):
            hd = f.height >= 720 or f.width >= 1280
            matrix = None if f.colorspace in tagged or f.format.is_rgb else "ITU709" if hd else "ITU601"
            frames.append(f.to_ndarray(format="rgb24", src_colorspace=matrix, dst_colorspace=matrix))
        return np.stack(frames)


def assert_same_frames(got: np.ndarray, ref: np.ndarray) -> None:
    """Same count and order, and each frame within H.264 generation loss of its reference."""
    assert got.shape == ref.shape
    err = np.abs(got[:, None].astype(np.int16) - ref[None].astype(np.int16)).mean(axis=(2, 3, 4))
    assert np.array_equal(err.argmin(axis=1), np.arange(len(ref)))
    assert err.diagonal().max() < 4.0
