"""What the streaming node reads for each kind of VIDEO (``_source`` in nodes/lipsync_video.py), in-process
(opt-in: set COMFYUI_PATH to a ComfyUI checkout).

ComfyUI 0.3.64's own VideoFromFile and VideoFromComponents, and small local classes that mimic what
current releases add to VideoFromFile (read from Comfy-Org/ComfyUI ``comfy_api/latest/_input_impl/
video_types.py`` and ``_input/video_types.py``): a trim window (``as_trimmed``,
``get_active_trim_window``, the start made non-negative from the end), a crop (``as_cropped``, kept
private; ``get_dimensions`` then gives its size) and, in the newest, ``has_pending_frame_edits``. A
test installs such a class as ComfyUI's VideoFromFile, as a newer release would have it. Their
``save_to`` records its calls, so a test sees whether the node read the file in place or had it copied.

Checked: core Load Video's VIDEO (a rotated phone video included) and a trimmed one are read from
their file with no copy: exactly the frames of the file in the trim window, timed from 0; a crop,
a VIDEO held in memory and another pack's subclass are written by their own ``save_to`` (losslessly
where it takes ``crf``) and read from that copy; a copy whose writing or opening fails is removed.
"""
from __future__ import annotations

import io
import os
from fractions import Fraction

import numpy as np
import pytest
import torch

from comfy_nodes import core, node_module, requires_comfyui
from video_files import assert_same_frames, make_clip

pytestmark = requires_comfyui

FPS = 25
N = 20


@pytest.fixture(scope="module")
def node():
    return node_module("lipsync_video")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("video_inputs")
    paths = {"plain": str(base / "plain.mp4"), "rotated": str(base / "rotated.mp4")}
    make_clip(paths["plain"], n=N, gop=5, size=(64, 48))
    make_clip(paths["rotated"], n=N, gop=5, size=(64, 48), rotation=90)  # coded 64x48, shown 48x64
    return paths


def in_file(path) -> tuple[np.ndarray, np.ndarray]:
    """The file's upright frames and their times (seconds from the first frame), read whole."""
    video_io = core("media.video_io")
    info = video_io.probe(path)
    windows = list(video_io.read_windows(info, 8))
    return np.concatenate([w.frames for w in windows]), np.concatenate([w.pts for w in windows]) * info.time_base


def read(source) -> tuple[np.ndarray, np.ndarray]:
    windows = list(source.windows(6))
    return np.concatenate([w.frames for w in windows]), np.concatenate([w.pts for w in windows]) * source.info.time_base


def temp_files(temp) -> list[str]:
    return sorted(os.listdir(temp))


def comfy_video_from_file():
    from comfy_api.v0_0_2 import InputImpl

    return InputImpl.VideoFromFile


def newer_video_from_file(pending_edits: bool):
    """A VideoFromFile class as current ComfyUI releases have it (``pending_edits``: the newest, with
    ``has_pending_frame_edits``), built on 0.3.64's, whose ``save_to`` records its calls."""
    base = comfy_video_from_file()
    video_io = core("media.video_io")

    class NewerVideoFromFile(base):
        saves: list[dict] = []

        def __init__(self, file, *, start_time: float = 0, duration: float = 0, crop=None):
            super().__init__(file)
            self._start, self._duration, self._crop = start_time, duration, crop

        def get_active_trim_window(self) -> tuple[float, float]:
            start = self._start
            if start < 0:
                start = max(self.get_duration() + start, 0.0)
            return float(start), float(self._duration)

        def get_dimensions(self) -> tuple[int, int]:
            return super().get_dimensions() if self._crop is None else tuple(self._crop[2:])

        def as_trimmed(self, start_time: float = 0, duration: float = 0, strict_duration: bool = True):
            return type(self)(self.get_stream_source(), start_time=start_time + self._start, duration=duration, crop=self._crop)

        def as_cropped(self, x: int = 0, y: int = 0, width: int = 0, height: int = 0):
            return type(self)(self.get_stream_source(), start_time=self._start, duration=self._duration, crop=(x, y, width, height))

        def save_to(self, path, format="auto", codec="auto", metadata=None, bit_depth=None, crf=None, color_space=None,
                    preset=None):
            """The upright frames in the trim window, cropped, re-encoded (H.264)."""
            type(self).saves.append({"crf": crf})
            info = video_io.probe(self.get_stream_source())
            frames = np.concatenate([w.frames for w in video_io.read_windows(info, 8)])
            start, duration = self.get_active_trim_window()
            frames = frames[round(start * FPS):round((start + duration) * FPS) if duration else None]
            if self._crop is not None:
                x, y, w, h = self._crop
                frames = frames[:, y:y + h, x:x + w]
            make_clip(path, frames=np.ascontiguousarray(frames), audio=None)

    if pending_edits:
        NewerVideoFromFile.has_pending_frame_edits = lambda self: self._crop is not None
    NewerVideoFromFile.saves = []
    return NewerVideoFromFile


@pytest.fixture(params=[False, True], ids=["trim-and-crop-release", "newest"])
def newer(request, monkeypatch, node):
    """A newer release's VideoFromFile, installed as ComfyUI's (what core Load Video then gives)."""
    cls = newer_video_from_file(request.param)
    monkeypatch.setattr(node.InputImpl, "VideoFromFile", cls)
    return cls


def test_core_load_video_is_read_from_its_file_in_place(node, clips, tmp_path):
    source, copy = node._source(comfy_video_from_file()(clips["plain"]), str(tmp_path))
    assert copy is None and temp_files(tmp_path) == []
    assert source.info.path == clips["plain"]
    frames, seconds = read(source)
    want, want_seconds = in_file(clips["plain"])
    assert np.array_equal(frames, want) and np.array_equal(seconds, want_seconds)


def test_a_rotated_phone_video_is_read_in_place_upright(node, clips, tmp_path):
    video = comfy_video_from_file()(clips["rotated"])
    assert tuple(video.get_dimensions()) == (64, 48), "0.3.64 gives the coded size"
    source, copy = node._source(video, str(tmp_path))
    assert copy is None and temp_files(tmp_path) == [], "the rotated video was copied"
    frames, _ = read(source)
    assert frames.shape == (N, 64, 48, 3)
    assert np.array_equal(frames, in_file(clips["rotated"])[0])


def test_a_rotated_video_of_a_newer_release_is_read_in_place(node, clips, tmp_path, newer):
    source, copy = node._source(newer(clips["rotated"]), str(tmp_path))
    assert copy is None and temp_files(tmp_path) == [] and newer.saves == []
    assert np.array_equal(read(source)[0], in_file(clips["rotated"])[0])


@pytest.mark.parametrize("clip, trims, first, count", [
    ("plain", [(0.2, 0.4)], 5, 10),
    ("plain", [(0.2, 0.0), (0.12, 0.2)], 8, 5),   # trimmed twice: 0.32 s on, 0.2 s
    ("plain", [(-0.2, 0.0)], 15, 5),               # the last 0.2 s
    ("rotated", [(0.4, 0.16)], 10, 4),
])
def test_a_trimmed_video_reads_exactly_its_window_from_the_file(node, clips, tmp_path, newer, clip, trims, first, count):
    video = newer(clips[clip])
    for start, duration in trims:
        video = video.as_trimmed(start, duration)
    source, copy = node._source(video, str(tmp_path))
    assert copy is None and temp_files(tmp_path) == [] and newer.saves == [], "the trimmed video was copied"
    frames, seconds = read(source)
    want, want_seconds = in_file(clips[clip])
    assert np.array_equal(frames, want[first:first + count]), "other frames than the trim window's were read"
    assert np.array_equal(seconds, want_seconds[first:first + count] - want_seconds[first]) and seconds[0] == 0
    assert source.info.estimated_frames() == count


def test_a_trimmed_video_held_in_memory_is_read_from_its_bytes_as_they_are(node, clips, tmp_path, newer):
    with open(clips["plain"], "rb") as f:
        data = f.read()
    source, copy = node._source(newer(io.BytesIO(data)).as_trimmed(0.4, 0.2), str(tmp_path))
    assert newer.saves == [] and temp_files(tmp_path) == [os.path.basename(copy)]
    with open(copy, "rb") as f:
        assert f.read() == data, "the file in memory was re-encoded or remuxed"
    assert np.array_equal(read(source)[0], in_file(clips["plain"])[0][10:15])


def test_a_video_in_memory_of_0_3_64_is_read_from_its_bytes_as_they_are(node, clips, tmp_path):
    with open(clips["rotated"], "rb") as f:
        data = f.read()
    source, copy = node._source(comfy_video_from_file()(io.BytesIO(data)), str(tmp_path))
    with open(copy, "rb") as f:
        assert f.read() == data, "the file in memory was remuxed"
    assert np.array_equal(read(source)[0], in_file(clips["rotated"])[0])


@pytest.mark.parametrize("clip", ["plain", "rotated"])
def test_a_cropped_video_is_read_from_a_lossless_copy_written_by_its_save_to(node, clips, tmp_path, newer, clip):
    video = newer(clips[clip]).as_trimmed(0.2, 0.4).as_cropped(8, 16, 32, 24)
    source, copy = node._source(video, str(tmp_path))
    assert newer.saves == [{"crf": 0}], "save_to was not asked for a lossless copy"
    assert copy is not None and temp_files(tmp_path) == [os.path.basename(copy)]
    frames, seconds = read(source)
    assert_same_frames(frames, in_file(clips[clip])[0][5:15, 16:40, 8:40])
    assert np.allclose(seconds.astype(float), np.arange(10) / FPS)


def test_a_video_from_components_is_written_by_its_save_to(node, tmp_path):
    from comfy_api.v0_0_2 import InputImpl, Types

    images = make_clip(tmp_path / "frames.mp4", n=6, audio=None)
    components = Types.VideoComponents(images=torch.from_numpy(images).float() / 255, frame_rate=Fraction(FPS))
    temp = tmp_path / "temp"
    temp.mkdir()
    source, copy = node._source(InputImpl.VideoFromComponents(components), str(temp))  # 0.3.64's save_to takes no crf
    assert copy is not None and temp_files(temp) == [os.path.basename(copy)]
    assert_same_frames(read(source)[0], images)


def test_another_packs_subclass_is_read_as_it_means_not_from_its_file(node, clips, tmp_path):
    class Negative(comfy_video_from_file()):
        """A VideoFromFile whose frames are the file's inverted (another pack's lazy effect)."""

        def get_components(self):
            components = super().get_components()
            return type(components)(images=1 - components.images, audio=None, frame_rate=components.frame_rate)

        def save_to(self, path, format="auto", codec="auto", metadata=None):
            from comfy_api.v0_0_2 import InputImpl

            InputImpl.VideoFromComponents(self.get_components()).save_to(path)

    source, copy = node._source(Negative(clips["plain"]), str(tmp_path))
    assert copy is not None
    frames, file_frames = read(source)[0].astype(float), in_file(clips["plain"])[0].astype(float)
    assert np.abs(frames - (255 - file_frames)).mean() < 5 < 60 < np.abs(frames - file_frames).mean(), \
        "the file's frames were read, not the inverted ones the VIDEO means"


class HalfWritten:
    """A VIDEO whose ``save_to`` writes part of a file, then fails (a full disk, a crash in another pack)."""

    def save_to(self, path, format="auto", codec="auto", metadata=None):
        with open(path, "wb") as f:
            f.write(b"\x00\x00\x00\x18ftypmp42" + bytes(1000))
        raise OSError(28, "No space left on device")

    def get_dimensions(self):
        return 64, 48


class NoVideo(HalfWritten):
    """A VIDEO whose ``save_to`` writes something that is no video, and returns."""

    def save_to(self, path, format="auto", codec="auto", metadata=None):
        with open(path, "wb") as f:
            f.write(b"not a video")


def test_a_copy_whose_save_to_fails_half_way_is_removed(node, tmp_path):
    with pytest.raises(OSError, match="No space left"):
        node._source(HalfWritten(), str(tmp_path))
    assert temp_files(tmp_path) == [], "the half-written copy was left behind"


def test_a_copy_that_cannot_be_read_is_removed(node, tmp_path):
    with pytest.raises(core("errors").BadInputError):
        node._source(NoVideo(), str(tmp_path))
    assert temp_files(tmp_path) == [], "the unreadable copy was left behind"
