"""Colour end to end through the media layer: read -> write keeps what a player shows.

Sources (tests/support/colour_clips.py) are made by the ffmpeg command line and decoded by it as a
player does (tests/support/player.py: tagged matrix and range, or BT.709 for untagged HD and BT.601
for untagged SD), so the pack's own decoding is not what judges it. Lossless output must give back
the source's planes bit for bit; lossy output may differ from the source by no more than a plain
re-encode of the decoded planes with the same encoder and settings does, plus 0.3 levels on average.
"""
from __future__ import annotations

import logging

import av
import numpy as np
import pytest

from colour_clips import SOURCES, Source, make
from latentsync_core.media.colourspace import ColourSpace, working_format
from latentsync_core.media.video_io import VideoWriter, probe, read_windows
from player import ffmpeg_installed, planes, player_rgb, reencode, tags

#: name -> ffprobe's (matrix, range, primaries, transfer) the output must carry
#: (untagged sources: what players assume, now written as tags) and the pixel format planes are kept in.
EXPECTED = {
    "bt601_sd": (("smpte170m", "tv", "smpte170m", "smpte170m"), "yuv420p"),
    "bt709_hd": (("bt709", "tv", "bt709", "bt709"), "yuv420p"),
    "bt709_full": (("bt709", "pc", "bt709", "bt709"), "yuv420p"),
    "untagged_sd": (("smpte170m", "tv", "smpte170m", "smpte170m"), "yuv420p"),
    "untagged_hd": (("bt709", "tv", "bt709", "bt709"), "yuv420p"),
    "hlg_10bit": (("bt2020nc", "tv", "bt2020", "arib-std-b67"), "yuv420p10le"),
    "prores_10bit": (("bt709", "tv", "bt709", "bt709"), "yuv422p10le"),
    "ffv1_10bit": (("bt709", "tv", "bt709", "bt709"), "yuv420p10le"),
}
#: FFmpeg's numbers (ITU-T H.273) for the names above.
MATRICES = {1: "bt709", 6: "smpte170m", 9: "bt2020nc"}
PRIMARIES = {1: "bt709", 6: "smpte170m", 9: "bt2020"}
TRANSFERS = {1: "bt709", 6: "smpte170m", 18: "arib-std-b67"}
RANGES = {1: "tv", 2: "pc"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    if not ffmpeg_installed():
        pytest.fail("These tests need the ffmpeg command line (Debian: apt-get install ffmpeg).")
    return tmp_path_factory.mktemp("colour")


def colour_tags(path) -> tuple[str, str, str, str]:
    t = tags(path)
    return t["matrix"], t["range"], t["primaries"], t["transfer"]


def own_planes(path, pix_fmt: str) -> list[bytes]:
    """Each frame's decoded planes, unconverted: ``path``'s own pixel format, which must be ``pix_fmt``."""
    assert tags(path)["pix_fmt"] == pix_fmt, f"{path} is {tags(path)['pix_fmt']}, not {pix_fmt}"
    return planes(path)


def copy(src, dst, crf: int, **writer) -> VideoWriter:
    """``src`` read and written unchanged, the decoded planes passed on as a job passes them."""
    info = probe(src)
    with VideoWriter(dst, info, crf=crf, **writer) as out:
        for window in read_windows(info, 4):
            out.write(window.frames, window.pts, window.decoded)
    return out


def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


@pytest.mark.parametrize("name", list(SOURCES))
def test_probe_reads_the_colour_a_player_shows(folder, name):
    src = make(SOURCES[name], folder)
    colour = probe(src).colour
    (matrix, colour_range, primaries, transfer), pix_fmt = EXPECTED[name]
    got = (MATRICES[colour.matrix], RANGES[colour.range], PRIMARIES[colour.primaries], TRANSFERS[colour.transfer])
    assert got == (matrix, colour_range, primaries, transfer)
    assert colour.pix_fmt == pix_fmt and colour.depth == (10 if "10" in pix_fmt else 8)
    assert colour.hdr == (name == "hlg_10bit")


@pytest.mark.parametrize("name", ["bt601_sd", "bt709_hd", "bt709_full", "untagged_hd", "hlg_10bit", "prores_10bit"])
def test_frames_are_read_as_a_player_shows_them(folder, name):
    """The 8-bit RGB the models see is the player's picture but for chroma upsampling and rounding: 0.8 to 1.6
    levels on average from the player's full chroma interpolation on these saturated test cards (FFmpeg's
    default, the reader's, is within 0.5); the wrong matrix (BT.601 for BT.709 HD, or for BT.2020) is off by
    4.4 to 9.6 levels."""
    src = make(SOURCES[name], folder)
    frames = np.concatenate([w.frames for w in read_windows(probe(src), 4)]).astype(np.float64)
    shown = player_rgb(src)
    assert frames.shape == shown.shape
    assert mean_difference(frames, shown) < 2.0


@pytest.mark.parametrize("name, ext", [
    *[(name, ".mkv") for name in SOURCES],
    ("bt709_hd", ".mp4"), ("bt709_full", ".mov"), ("hlg_10bit", ".mp4"), ("prores_10bit", ".mov"),
])
def test_lossless_copy_gives_back_the_source_planes(folder, tmp_path, name, ext):
    src = make(SOURCES[name], folder)
    dst = tmp_path / f"out{ext}"
    writer = copy(src, dst, crf=0)
    colours, pix_fmt = EXPECTED[name]
    assert writer.encoding.codec == ("ffv1" if ext == ".mkv" else "libx264")
    assert colour_tags(dst) == colours and tags(dst)["pix_fmt"] == pix_fmt
    got, want = own_planes(dst, pix_fmt), own_planes(src, pix_fmt)
    assert len(got) == len(want) == 6
    assert all(a == b for a, b in zip(got, want)), "a frame's planes changed"


@pytest.mark.parametrize("name, codec, pix_fmt", [
    ("bt601_sd", "libx264", "yuv420p"),
    ("bt709_hd", "libx264", "yuv420p"),
    ("bt709_full", "libx264", "yuv420p"),
    ("untagged_sd", "libx264", "yuv420p"),
    ("untagged_hd", "libx264", "yuv420p"),
    ("hlg_10bit", "libx265", "yuv420p10le"),
    ("prores_10bit", "libx265", "yuv420p10le"),
    ("ffv1_10bit", "libx265", "yuv420p10le"),
])
def test_lossy_copy_differs_no_more_than_a_plain_reencode(folder, tmp_path, name, codec, pix_fmt):
    src = make(SOURCES[name], folder)
    dst, plain = tmp_path / "out.mp4", tmp_path / "plain.mp4"
    writer = copy(src, dst, crf=18)
    assert (writer.encoding.codec, writer.encoding.pix_fmt) == (codec, pix_fmt)
    assert colour_tags(dst) == EXPECTED[name][0] and tags(dst)["pix_fmt"] == pix_fmt
    options = [x for key, value in writer.encoding.options.items() for x in (f"-{key}", value)]
    reencode(src, plain, ("-c:v", codec, *options), pix_fmt)
    source = player_rgb(src)
    ours, theirs = mean_difference(player_rgb(dst), source), mean_difference(player_rgb(plain), source)
    assert ours <= theirs + 0.3, f"output differs by {ours:.2f} levels, a plain re-encode by {theirs:.2f}"


def test_an_edit_is_pasted_at_full_depth_and_nothing_else_changes(folder, tmp_path):
    """A square painted into one 8-bit frame of a 10-bit HLG source: inside it the output shows the paint,
    outside it (and in every other frame) the 10-bit planes are the source's, bit for bit."""
    src = make(SOURCES["hlg_10bit"], folder)
    dst = tmp_path / "out.mkv"
    info = probe(src)
    top, left, size = 101, 203, 40  # odd corner: the chroma blocks on its edge mix painted and kept pixels
    paint = np.array([200, 40, 90], np.uint8)
    with VideoWriter(dst, info, crf=0) as writer:
        for window in read_windows(info, 4):
            frames = window.frames.copy()
            if window.start == 0:
                frames[2, top:top + size, left:left + size] = paint
            writer.write(frames, window.pts, window.decoded)
    got, want = own_planes(dst, "yuv420p10le"), own_planes(src, "yuv420p10le")
    assert [a == b for a, b in zip(got, want)] == [True, True, False, True, True, True]
    w, h = info.width, info.height
    y_got, y_want = (np.frombuffer(x[: w * h * 2], "<u2").reshape(h, w) for x in (got[2], want[2]))
    changed = y_got != y_want
    assert changed[top:top + size, left:left + size].mean() > 0.95
    changed[top:top + size, left:left + size] = False
    assert not changed.any(), "luma changed outside the painted square"
    c_got, c_want = (np.frombuffer(x[w * h * 2:], "<u2").reshape(2, h // 2, w // 2) for x in (got[2], want[2]))
    c_changed = (c_got != c_want).any(axis=0)
    c_changed[top // 2:(top + size + 1) // 2, left // 2:(left + size + 1) // 2] = False
    assert not c_changed.any(), "chroma changed outside the blocks the square touches"
    shown = player_rgb(dst)[2, top + 4:top + size - 4, left + 4:left + size - 4]  # chroma upsampling: 2 px each way
    assert np.abs(shown - paint).max() < 2.0


def test_odd_size_420_is_padded_to_even_for_h264_and_kept_by_ffv1(folder, tmp_path):
    """Planes compared (a player's RGB of an odd-width 4:2:0 frame resamples its chroma 32 -> 31.5 wide)."""
    src = make(Source("odd_420", (63, 47), "yuv420p", ("-c:v", "ffv1"), "bt709", "tv", "bt709", "bt709", ".mkv"), folder)
    lossy, lossless = tmp_path / "out.mp4", tmp_path / "out.mkv"
    copy(src, lossy, crf=18)
    copy(src, lossless, crf=0)
    assert tags(lossy)["shown"] == "64x48" and colour_tags(lossy) == colour_tags(src)
    assert own_planes(lossless, "yuv420p") == own_planes(src, "yuv420p")
    for got, want in zip(own_planes(lossy, "yuv420p"), own_planes(src, "yuv420p")):
        y_got = np.frombuffer(got[: 64 * 48], np.uint8).reshape(48, 64).astype(int)
        y_want = np.frombuffer(want[: 63 * 47], np.uint8).reshape(47, 63).astype(int)
        c_got = np.frombuffer(got[64 * 48:], np.uint8).reshape(2, 24, 32).astype(int)
        c_want = np.frombuffer(want[63 * 47:], np.uint8).reshape(2, 24, 32).astype(int)
        assert np.abs(y_got[:47, :63] - y_want).mean() < 2.5 and np.abs(c_got - c_want).mean() < 2.5
        assert np.abs(y_got[:47, 63] - y_want[:, 62]).mean() < 4.0 and np.abs(y_got[47, :63] - y_want[46]).mean() < 4.0


def test_frames_of_another_size_keep_the_tags_and_say_once_they_are_8_bit(folder, tmp_path, caplog):
    """An enlarged background (no decoded planes of that size): written from its 8-bit RGB, HDR tags kept."""
    src = make(SOURCES["hlg_10bit"], folder)
    dst = tmp_path / "big.mp4"
    info = probe(src)
    with caplog.at_level(logging.WARNING):
        with VideoWriter(dst, info, size=(info.width * 2, info.height * 2)) as writer:
            for window in read_windows(info, 4):
                writer.write(window.frames.repeat(2, axis=1).repeat(2, axis=2), window.pts)
    notes = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(notes) == 1 and "8 bits" in notes[0] and str(src) in notes[0]
    assert colour_tags(dst) == EXPECTED["hlg_10bit"][0] and tags(dst)["pix_fmt"] == "yuv420p"
    shown = player_rgb(dst)[:, ::2, ::2]
    assert mean_difference(shown, player_rgb(src)) < 2.0


@pytest.mark.parametrize("decoded, kept", [
    ("yuv420p", "yuv420p"), ("nv12", "yuv420p"), ("yuvj422p", "yuv422p"), ("yuva420p", "yuv420p"),
    ("p010le", "yuv420p10le"), ("yuv420p10be", "yuv420p10le"), ("yuv444p12le", "yuv444p12le"),
    ("gray", "gray"), ("gray10le", "gray10le"), ("gbrp", "rgb24"), ("bgr0", "rgb24"), ("gbrp10le", "rgb48le"),
    ("pal8", "rgb24"),
])
def test_decoded_formats_are_kept_in_their_planar_twin(decoded, kept):
    assert working_format(av.VideoFormat(decoded)) == kept


@pytest.mark.parametrize("packed, planar", [("nv12", "yuv420p"), ("p010le", "yuv420p10le")])
def test_semi_planar_frames_are_repacked_exactly(packed, planar):
    """What hardware decoders give (NV12, P010) becomes the planar twin with the same samples."""
    rng = np.random.default_rng(3)
    deep = planar.endswith("10le")
    colour = ColourSpace(1, 1, 1, 1, planar)
    high = 1024 if deep else 256
    planes = (rng.integers(0, high, (32, 48)), rng.integers(0, high, (16, 24)), rng.integers(0, high, (16, 24)))
    planes = tuple(p.astype(np.uint16 if deep else np.uint8) for p in planes)
    semi = av.VideoFrame(48, 32, packed)  # as a hardware decoder gives it: Y, then U and V interleaved
    shift = 6 if deep else 0
    dtype = planes[0].dtype
    rows = [np.frombuffer(p, np.uint8).view(dtype).reshape(p.height, -1) for p in semi.planes]
    rows[0][:, :48] = planes[0] << shift
    rows[1][:, 0:48:2], rows[1][:, 1:48:2] = planes[1] << shift, planes[2] << shift
    back = colour.planes(colour.convert(semi, planar))
    assert all(np.array_equal(a, b) for a, b in zip(back, planes))


def test_windows_slice_and_join_with_their_decoded_planes(folder):
    """What a job does with windows (holds back a tail, joins it to the next) keeps each frame's planes with it."""
    from latentsync_core.media.video_io import FrameWindow

    src = make(SOURCES["ffv1_10bit"], folder)
    first, second = list(read_windows(probe(src), 4))
    tail = first[1:]
    assert (tail.start, len(tail), len(tail.decoded)) == (1, 3, 3)
    assert all(d.rgb is f or np.shares_memory(d.rgb, f) for d, f in zip(tail.decoded, tail.frames))
    joined = FrameWindow.concatenate([tail, second])
    assert (joined.start, len(joined), len(joined.decoded)) == (1, 5, 5)
    assert np.array_equal(joined.pts, np.concatenate([first.pts[1:], second.pts]))
    assert [d.planes[0] is e.planes[0] for d, e in zip(joined.decoded, first.decoded[1:] + second.decoded)] == [True] * 5
    plain = FrameWindow(second.frames, second.pts, second.start)
    assert FrameWindow.concatenate([tail, plain]).decoded is None


@pytest.mark.parametrize("rotation", [90, 270])
def test_rotated_source_planes_are_written_upright_bit_for_bit(folder, tmp_path, rotation):
    """A phone's display matrix: the stored 4:2:0 planes, turned upright, are the lossless output's planes."""
    from test_video_io import make_clip

    src, dst = tmp_path / "phone.mp4", tmp_path / "out.mkv"
    make_clip(src, n=3, size=(64, 48), audio=None, rotation=rotation)
    copy(src, dst, crf=0)
    stored = raw_planes_of(src, 64, 48)
    upright = raw_planes_of(dst, 48, 64)
    for planes, turned in zip(stored, upright):
        for plane, want in zip(planes, turned):
            assert np.array_equal(np.rot90(plane, rotation // 90), want)


def raw_planes_of(path, width: int, height: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each 4:2:0 8-bit frame's Y, U, V as stored (no rotation applied)."""
    import subprocess

    raw = subprocess.run(["ffmpeg", "-v", "error", "-noautorotate", "-i", str(path), "-f", "rawvideo", "-pix_fmt",
                          "yuv420p", "-"], check=True, capture_output=True).stdout
    size, quarter = width * height, width * height // 4
    frames = np.frombuffer(raw, np.uint8).reshape(-1, size + 2 * quarter)
    return [(f[:size].reshape(height, width), f[size:size + quarter].reshape(height // 2, width // 2),
             f[size + quarter:].reshape(height // 2, width // 2)) for f in frames]
