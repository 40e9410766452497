"""The bad-input corpus: odd, damaged and hostile files, generated on demand (nothing is committed).

Each ``make_*`` function writes one file into a folder with PyAV/numpy and returns its path;
every file is small (a few frames, at most 4K for two frames) so the whole corpus takes seconds.
:data:`VIDEOS` and :data:`AUDIO` name the cases; ``tests/unit/cli/test_bad_inputs.py`` runs them through
the command line, the core and the nodes.
"""
from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from latentsync_core.media.audio_io import read_audio
from video_files import make_clip


def ramps(n: int, width: int, height: int) -> np.ndarray:
    """``(n, height, width, 3)`` uint8 colour ramps that change with the frame index."""
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack(
        [np.stack([(xx * 3 + i * 9) % 256, (yy * 4 + i * 5) % 256, np.full_like(xx, 40 + i * 7 % 200)], -1)
         for i in range(n)]
    ).astype(np.uint8)


def write_frames(path: Path, images: np.ndarray, frame_format: str, codec: str, pix_fmt: str,
                 options: dict[str, str] | None = None) -> Path:
    """Encode ``images`` (PyAV ``frame_format`` arrays, e.g. ``gray`` ``(N, H, W)`` or ``rgb48le``
    ``(N, H, W, 3)`` uint16) with ``codec`` in ``pix_fmt`` at 25 fps; no audio."""
    with av.open(os.fspath(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.height, stream.width = images.shape[1:3]
        stream.pix_fmt = pix_fmt
        stream.options = options or {}
        for i, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(image, format=frame_format)
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def make_frames(folder: Path, n: int) -> Path:
    """An H.264 mp4 of ``n`` 64x48 frames with AAC audio (``n = 0``: streams but no frame)."""
    path = folder / f"frames_{n}.mp4"
    if n == 0:
        with av.open(os.fspath(path), "w") as container:
            stream = container.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            container.start_encoding()
        return path
    make_clip(path, n=n)
    return path


def make_size(folder: Path, width: int, height: int, n: int = 2) -> Path:
    """``n`` frames of ``width x height``; odd sizes go to FFV1 in Matroska (H.264 needs even sizes)."""
    if width % 2 or height % 2:
        return write_frames(folder / f"size_{width}x{height}.mkv", ramps(n, width, height), "rgb24", "ffv1", "yuv444p")
    options = {"crf": "10", "preset": "ultrafast"}
    return write_frames(folder / f"size_{width}x{height}.mp4", ramps(n, width, height), "rgb24", "libx264", "yuv420p", options)


def make_gray(folder: Path) -> Path:
    """8-bit grayscale H.264."""
    return write_frames(folder / "gray.mp4", ramps(3, 64, 48)[..., 0], "gray", "libx264", "gray")


def make_rgba(folder: Path) -> Path:
    """PNG-in-MOV with an alpha channel (half transparent)."""
    images = np.concatenate([ramps(3, 64, 48), np.full((3, 48, 64, 1), 128, np.uint8)], axis=-1)
    return write_frames(folder / "rgba.mov", images, "rgba", "png", "rgba")


def make_16bit(folder: Path) -> Path:
    """16 bits per channel RGB (PNG-in-MOV, rgb48)."""
    images = ramps(3, 64, 48).astype(np.uint16) * 257
    return write_frames(folder / "rgb48.mov", images, "rgb48le", "png", "rgb48be")


def make_10bit(folder: Path) -> Path:
    """10-bit 4:2:0 HEVC, as recent phones record."""
    return write_frames(folder / "hevc10.mp4", ramps(3, 64, 48), "rgb24", "libx265", "yuv420p10le")


def make_vfr(folder: Path) -> Path:
    """Variable frame rate: irregular timestamps in a 1/90000 time base."""
    path = folder / "vfr.mp4"
    make_clip(path, n=6, fps=Fraction(30), time_base=Fraction(1, 90000), pts=[0, 3000, 4500, 9000, 10000, 16000])
    return path


def make_rotated(folder: Path) -> Path:
    """A phone video: stored 64x48, display matrix turns it 90 degrees (shown 48x64)."""
    path = folder / "rotated.mp4"
    make_clip(path, n=3, rotation=90)
    return path


def make_truncated(folder: Path) -> Path:
    """An mp4 cut in half while it was copied (its index, written last, is gone)."""
    good = make_clip(folder / "whole.mp4", n=12) is not None and folder / "whole.mp4"
    path = folder / "truncated.mp4"
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    good.unlink()
    return path


def make_truncated_faststart(folder: Path) -> Path:
    """An mp4 with its index first ("faststart", as web videos are) whose frame data stops at two thirds."""
    whole = folder / "whole_faststart.mp4"
    with av.open(os.fspath(whole), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i, image in enumerate(ramps(50, 64, 48)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    path = folder / "truncated_faststart.mp4"
    data = whole.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    whole.unlink()
    return path


def make_corrupt(folder: Path, where: str) -> Path:
    """An mp4 with a third of its bytes overwritten by noise: at the ``"start"`` (the boxes that
    say what the file holds) or in the ``"middle"`` (compressed frames and audio)."""
    path = folder / f"corrupt_{where}.mp4"
    make_clip(path, n=12)
    data = bytearray(path.read_bytes())
    size = len(data) // 3
    first = 0 if where == "start" else size
    data[first:first + size] = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def make_text(folder: Path) -> Path:
    """A text file named like a video."""
    path = folder / "notes.mp4"
    path.write_text("this is not a video\n")
    return path


#: Video cases: id -> maker. All are readable videos except those in :data:`UNREADABLE`.
VIDEOS: dict[str, Callable[[Path], Path]] = {
    "0-frames": lambda d: make_frames(d, 0),
    "1-frame": lambda d: make_frames(d, 1),
    "2-frames": lambda d: make_frames(d, 2),
    "4x4": lambda d: make_size(d, 4, 4),
    "17x31": lambda d: make_size(d, 17, 31),
    "4K": lambda d: make_size(d, 3840, 2160),
    "gray": make_gray,
    "rgba": make_rgba,
    "16-bit": make_16bit,
    "10-bit": make_10bit,
    "vfr": make_vfr,
    "rotated": make_rotated,
    "truncated": make_truncated,
    "truncated-faststart": make_truncated_faststart,
    "corrupt-start": lambda d: make_corrupt(d, "start"),
    "corrupt-middle": lambda d: make_corrupt(d, "middle"),
    "text-as-mp4": make_text,
}
#: Cases the command line refuses, with words its one-line message must hold.
UNREADABLE: dict[str, tuple[str, ...]] = {
    "0-frames": ("no video frames",),
    "truncated": ("Cannot read", "damaged or incomplete"),
    "truncated-faststart": ("ends after", "incomplete", "download it again"),
    "corrupt-start": ("Cannot read",),
    "corrupt-middle": ("Cannot decode", "damaged"),
    "text-as-mp4": ("Cannot read",),
}


def audio_wave(rate: int, channels: int, seconds: float, silent: bool = False) -> np.ndarray:
    """``(channels, rate * seconds)`` float32: a 220 Hz tone with a syllable-like envelope (or zeros)."""
    t = np.arange(int(round(rate * seconds))) / rate
    if silent:
        return np.zeros((channels, t.size), np.float32)
    wave = 0.3 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    return np.stack([wave * (1 - 0.1 * c) for c in range(channels)]).astype(np.float32)


#: Audio cases: id -> (sample rate, channels, seconds, silent).
AUDIO: dict[str, tuple[int, int, float, bool]] = {
    "zero-length-16k": (16000, 1, 0.0, False),
    "zero-length-44k1": (44100, 2, 0.0, False),
    "zero-length-48k": (48000, 2, 0.0, False),
    "silent": (16000, 1, 0.5, True),
    "mono": (22050, 1, 0.5, False),
    "8-channel": (48000, 8, 0.5, False),
    "8kHz": (8000, 1, 0.5, False),
    "96kHz": (96000, 2, 0.5, False),
}


AUDIO_LAYOUTS = {1: "mono", 2: "stereo", 8: "7.1"}


def write_audio(path: Path, wave: np.ndarray, rate: int) -> Path:
    """``wave`` ``(C, T)`` float32 as 16-bit PCM WAV (``T = 0``: a header and no samples)."""
    with av.open(os.fspath(path), "w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout=AUDIO_LAYOUTS[wave.shape[0]])
        container.start_encoding()
        _encode_audio(container, stream, wave)
    return path


def _encode_audio(container: av.container.OutputContainer, stream: av.audio.stream.AudioStream,
                  wave: np.ndarray) -> None:
    """Encode ``wave`` ``(C, T)`` float32 into ``stream`` (no packet when ``T = 0``)."""
    rate, layout = stream.codec_context.sample_rate, stream.codec_context.layout.name
    if wave.shape[1]:
        interleaved = np.ascontiguousarray(wave.T).reshape(1, -1)  # packed: PyAV's planar input stops at 8 planes
        frame = av.AudioFrame.from_ndarray(interleaved, format="flt", layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout=layout, rate=rate,
                                      frame_size=stream.codec_context.frame_size or None)
        for out in [*resampler.resample(frame), *resampler.resample(None)]:
            container.mux(stream.encode(out))
    container.mux(stream.encode(None))


def make_video_with_audio(folder: Path, case: str, codec: str = "aac") -> Path:
    """A 0.48 s 64x48 H.264 video (12 frames) whose audio track is the :data:`AUDIO` case ``case``."""
    rate, channels, seconds, silent = AUDIO[case]
    path = folder / f"video_{case}_{codec}.{'mov' if codec.startswith('pcm') else 'mp4'}"
    with av.open(os.fspath(path), "w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream(codec, rate=rate, layout=AUDIO_LAYOUTS[channels])
        for i, image in enumerate(ramps(12, 64, 48)):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        _encode_audio(container, audio, audio_wave(rate, channels, seconds, silent))
    return path


def make_audio(folder: Path, case: str) -> Path:
    rate, channels, seconds, silent = AUDIO[case]
    return write_audio(folder / f"{case}.wav", audio_wave(rate, channels, seconds, silent), rate)


def waveform(folder: Path, case: str) -> tuple[torch.Tensor, int]:
    """The :data:`AUDIO` case as ComfyUI's AUDIO holds it: ``[1, C, T]`` float32 and its rate.

    Read from its WAV file (media.audio_io, as the command line does), except zero-length audio,
    which that reader refuses and which a node can still be handed.
    """
    rate, channels, seconds, _ = AUDIO[case]
    if seconds == 0:
        return torch.zeros(1, channels, 0), rate
    audio = read_audio(make_audio(folder, case))
    return audio.waveform[None], audio.sample_rate


# ----- model files -----

class _RunsCode:
    """Unpickling this creates the folder ``marker``: the ``torch.load(weights_only=False)`` attack."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def make_truncated_model(src: Path, dst: Path) -> Path:
    """The first half of a real model file."""
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


def make_pickle_with_code(dst: Path) -> Path:
    """A torch.save file whose unpickling would run code: it would create ``<dst>.ran``."""
    import torch

    torch.save({"params_ema": {"weight": torch.zeros(1)}, "payload": _RunsCode(os.fspath(dst) + ".ran")}, dst)
    return dst


def make_wrong_architecture(dst: Path) -> Path:
    """A valid state dict of some other network (a two-layer CNN)."""
    import torch

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 3))
    torch.save(net.state_dict(), dst)
    return dst


# ----- output folders that cannot be written -----

def _mount_tmpfs(folder: Path, options: str) -> bool:
    """Mount a tmpfs on ``folder`` (root only); False when this machine does not allow it."""
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", os.fspath(folder)],
                          capture_output=True, timeout=30)
    return done.returncode == 0


@contextmanager
def read_only_folder(folder: Path) -> Iterator[Path]:
    """``folder`` made unwritable: mode 0o555, and as root (who ignores modes) a read-only tmpfs on it."""
    folder.mkdir()
    folder.chmod(0o555)
    mounted = _mount_tmpfs(folder, "ro,size=64k")
    try:
        if os.access(folder, os.W_OK):
            import pytest

            pytest.skip("cannot make a folder unwritable here (root without mount)")
        yield folder
    finally:
        if mounted:
            subprocess.run(["umount", os.fspath(folder)], check=True, timeout=30)
        folder.chmod(0o755)


@contextmanager
def full_disk(folder: Path, size: str = "96k") -> Iterator[Path]:
    """A folder where writing more than about ``size`` fails with ENOSPC (a tiny tmpfs) or, where
    mounting is not allowed, with EFBIG (RLIMIT_FSIZE for this process while inside)."""
    import resource
    import signal

    folder.mkdir()
    if _mount_tmpfs(folder, f"size={size}"):
        try:
            yield folder
        finally:
            subprocess.run(["umount", os.fspath(folder)], check=True, timeout=30)
        return
    limit = int(size.rstrip("k")) * 1024
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, old_limit[1]))
    try:
        yield folder
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)

