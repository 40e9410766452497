"""Streaming video reading/writing: rates, timestamps, audio copy, atomic output, bad input.

Every clip is synthesised in ``tmp_path`` by :func:`make_clip` (PyAV, a few
dozen small frames), so the module runs in a few seconds.
"""
from __future__ import annotations

import dataclasses
import os
from fractions import Fraction

import av
import numpy as np
import pytest

from latentsync_core.errors import BadInputError
from latentsync_core.media.video_io import (
    FrameWindow, KeyframeIndex, SegmentJoiner, VideoInfo, VideoWriter, check_output_path, probe, read_windows,
)
from video_files import assert_same_frames, decode_video, frame_times, make_clip, packets


def copy_video(src, dst, window: int = 5) -> None:
    """Stream ``src`` to ``dst`` unchanged through :func:`read_windows` and :class:`VideoWriter`."""
    info = probe(src)
    with VideoWriter(dst, info) as writer:
        for win in read_windows(info, window):
            writer.write(win.frames, win.pts)


def decode_audio(path) -> np.ndarray:
    with av.open(os.fspath(path)) as container:
        chunks = [f.to_ndarray().astype(np.float64).reshape(f.layout.nb_channels, -1)[0]
                  for f in container.decode(container.streams.audio[0])]
    out = np.concatenate(chunks)
    return out / 32768.0 if np.abs(out).max() > 2 else out


def test_windows_cover_every_frame_in_order(tmp_path):
    src = tmp_path / "in.mp4"
    frames = make_clip(src, n=13, audio=None)
    info = probe(src)
    wins = list(read_windows(info, window=5))
    assert [len(w) for w in wins] == [5, 5, 3]
    assert [w.start for w in wins] == [0, 5, 10]
    got = np.concatenate([w.frames for w in wins])
    assert got.dtype == np.uint8
    assert_same_frames(got, frames)
    seconds = np.concatenate([w.pts for w in wins]) * float(info.time_base)
    assert np.allclose(seconds, np.arange(13) / 25)
    assert wins[0].frames is not wins[1].frames and not np.shares_memory(wins[0].frames, wins[1].frames)
    assert [len(w) for w in read_windows(info, window=100)] == [13]


def read_from(info, start: int, keyframes: KeyframeIndex | None, window: int = 4) -> tuple[np.ndarray, np.ndarray]:
    wins = list(read_windows(info, window, start, keyframes))
    assert [w.start for w in wins] == list(range(start, start + window * len(wins), window))
    return np.concatenate([w.frames for w in wins]), np.concatenate([w.pts for w in wins])


@pytest.mark.parametrize("name, fps, gop, time_base, fmt, pts", [
    ("gop10.mp4", Fraction(25), 10, None, None, None),
    ("ntsc_gop7.mov", Fraction(30000, 1001), 7, None, "mov", None),
    ("vfr_gop6.mkv", Fraction(20), 6, Fraction(1, 1000), "matroska",
     [0, 40, 80, 150, 190, 300, 333, 380, 420, 500, 530, 610, 700, 720, 760, 800, 905, 950, 990, 1100, 1140, 1180, 1300, 1340, 1400]),
])
def test_read_from_a_later_frame_seeks_to_a_key_frame_and_gives_the_sequential_frames(tmp_path, name, fps, gop, time_base, fmt, pts):
    src = tmp_path / name
    make_clip(src, n=25, fps=fps, gop=gop, time_base=time_base, fmt=fmt, pts=pts, audio=None, size=(96, 64))
    info = probe(src)
    keyframes = KeyframeIndex()
    frames, stamps = read_from(info, 0, keyframes)  # the first read finds the key frames
    assert frames.shape[0] == 25
    assert [keyframes.before(i)[0] for i in (gop, 2 * gop, 24)] == [gop, 2 * gop, 24 // gop * gop]
    for start in (1, gop - 1, gop, gop + 3, 2 * gop + 1, 24):
        got, got_stamps = read_from(info, start, keyframes)
        assert np.array_equal(got, frames[start:]), f"frames from {start} differ from the sequential decode"
        assert np.array_equal(got_stamps, stamps[start:])
        mark = keyframes.before(start)
        assert mark is None or mark[0] == start // gop * gop, "the seek did not land on its key frame"


def test_a_seek_that_misses_its_key_frame_decodes_from_the_start(tmp_path):
    src = tmp_path / "all_intra.mkv"
    make_clip(src, n=12, fps=Fraction(25), time_base=Fraction(1, 1000), pts=[40 * i for i in range(12)], fmt="matroska",
              codec="ffv1", audio=None)
    info = probe(src)
    frames, stamps = read_from(info, 0, None)
    keyframes = KeyframeIndex()
    keyframes.add(8, 8 * 40 + 1, 7 * 40)  # no frame has that timestamp
    got, got_stamps = read_from(info, 9, keyframes)
    assert np.array_equal(got, frames[9:]) and np.array_equal(got_stamps, stamps[9:])
    assert keyframes.before(9) is None, "the wrong key frame was kept"


def test_ntsc_rate_kept_exactly_and_audio_packets_copied(tmp_path):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    fps = Fraction(30000, 1001)
    make_clip(src, n=20, fps=fps, time_base=Fraction(1, 30000), pts=[i * 1001 for i in range(20)])
    copy_video(src, dst, window=6)
    src_info, out_info = probe(src), probe(dst)
    assert src_info.fps == fps and out_info.fps == fps
    assert out_info.frame_count == 20
    assert frame_times(dst) == frame_times(src)
    assert_same_frames(decode_video(dst), decode_video(src))
    a_in, a_out = packets(src, "audio"), packets(dst, "audio")
    assert out_info.audio_codec == "aac" and len(a_out) == len(a_in) > 0
    assert [bytes(p) for p in a_out] == [bytes(p) for p in a_in]
    assert [p.pts * p.time_base for p in a_out] == [p.pts * p.time_base for p in a_in]


def test_film_rate_23976(tmp_path):
    src, dst = tmp_path / "in.mov", tmp_path / "out.mp4"
    make_clip(src, n=10, fps=Fraction(24000, 1001), audio=None)
    copy_video(src, dst)
    assert frame_times(dst) == frame_times(src)
    assert probe(dst).fps == Fraction(24000, 1001)


def test_variable_frame_rate_keeps_each_timestamp(tmp_path):
    src, dst = tmp_path / "vfr.mkv", tmp_path / "out.mp4"
    stamps = [0, 40, 80, 150, 190, 300, 333, 380, 420, 500]
    make_clip(src, n=10, fps=Fraction(20), pts=stamps, time_base=Fraction(1, 1000), fmt="matroska", audio=None)
    copy_video(src, dst, window=4)
    assert frame_times(dst) == [Fraction(t, 1000) for t in stamps]


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_phone_video_read_and_written_upright(tmp_path, rotation):
    src, dst = tmp_path / "phone.mp4", tmp_path / "out.mp4"
    stored = make_clip(src, n=3, size=(64, 48), audio=None, rotation=rotation)
    # A display matrix of +90 degrees is shown turned counter-clockwise (FFmpeg's player
    # applies transpose=cclock), as np.rot90 with k=1 turns an image.
    upright = np.rot90(stored, rotation // 90, axes=(1, 2))
    info = probe(src)
    assert info.rotation == rotation and (info.height, info.width) == upright.shape[1:3]
    assert_same_frames(np.concatenate([w.frames for w in read_windows(info, 2)]), upright)
    copy_video(src, dst)
    out = probe(dst)
    assert out.rotation == 0 and (out.height, out.width) == upright.shape[1:3]
    assert_same_frames(decode_video(dst), upright)


def test_clip_without_audio_gives_output_without_audio(tmp_path):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, audio=None)
    assert not probe(src).has_audio
    copy_video(src, dst)
    assert not probe(dst).has_audio and probe(dst).frame_count == 12


def test_audio_reencoded_to_aac_when_container_rejects_codec(tmp_path):
    src, dst = tmp_path / "in.mov", tmp_path / "out.mp4"
    make_clip(src, n=25, audio="pcm_mulaw", sample_rate=8000)
    assert probe(src).audio_codec == "pcm_mulaw"
    copy_video(src, dst)
    assert probe(dst).audio_codec == "aac"
    ref, got = decode_audio(src), decode_audio(dst)
    assert abs(len(got) - len(ref)) <= 1024
    n = min(len(ref), len(got)) - 2048
    # Same tone, same phase: AAC priming is trimmed by the container, so no shift.
    corr = np.corrcoef(ref[1024:n], got[1024:n])[0, 1]
    assert corr > 0.95


def test_odd_frame_size_padded_to_even(tmp_path):
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mp4"
    frames = make_clip(src, size=(63, 47), audio=None, fmt="matroska", codec="ffv1")
    info = probe(src)
    assert (info.width, info.height) == (63, 47)
    copy_video(src, dst)
    out = probe(dst)
    assert (out.width, out.height) == (64, 48)
    got = decode_video(dst)
    assert_same_frames(got[:, :47, :63], frames)
    assert np.abs(got[:, :47, 63].astype(int) - got[:, :47, 62]).mean() < 4.0


def test_unicode_and_space_paths(tmp_path):
    folder = tmp_path / "vidéos à traiter 日本"
    folder.mkdir()
    src, dst = folder / "entrée 1.mp4", folder / "sortie – 1.mp4"
    make_clip(src)
    copy_video(src, dst)
    assert probe(dst).frame_count == 12 and probe(dst).has_audio
    assert sorted(os.listdir(folder)) == sorted([src.name, dst.name])


def test_output_gets_default_permissions_without_touching_the_umask(tmp_path, umask_027):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, n=2, audio=None)
    copy_video(src, dst)
    assert dst.stat().st_mode & 0o777 == 0o666 & ~umask_027


def test_failure_mid_stream_leaves_no_output(tmp_path):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src)
    info = probe(src)
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(dst, info) as writer:
            for win in read_windows(info, 4):
                writer.write(win.frames, win.pts)
                raise RuntimeError("boom")
    assert sorted(os.listdir(tmp_path)) == ["in.mp4"]


def test_existing_output_replaced_only_on_success(tmp_path):
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src)
    dst.write_bytes(b"old")
    info = probe(src)
    with pytest.raises(RuntimeError):
        with VideoWriter(dst, info):
            raise RuntimeError("stop")
    assert dst.read_bytes() == b"old"
    copy_video(src, dst)
    assert probe(dst).frame_count == 12


@pytest.mark.parametrize("name", ["missing.mp4", "text.mp4", "folder.mp4", "audio_only.m4a", "empty.mp4"])
def test_bad_inputs_raise_bad_input(tmp_path, name):
    path = tmp_path / name
    if name == "text.mp4":
        path.write_text("this is not a video\n" * 20)
    elif name == "folder.mp4":
        path.mkdir()
    elif name == "audio_only.m4a":
        with av.open(str(path), "w", format="mp4") as c:
            s = c.add_stream("aac", rate=16000, layout="mono")
            f = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="fltp", layout="mono")
            f.sample_rate, f.pts = 16000, 0
            c.mux(s.encode(f))
            c.mux(s.encode(None))
    elif name == "empty.mp4":
        with av.open(str(path), "w") as c:
            s = c.add_stream("libx264", rate=25)
            s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
            c.start_encoding()
    with pytest.raises(BadInputError) as err:
        info = probe(path)
        list(read_windows(info))
    message = str(err.value)
    assert "\n" not in message and os.fspath(path) in message
    if name == "audio_only.m4a":
        assert "holds only audio" in message
    if name == "empty.mp4":
        assert "no video frames" in message


def test_output_path_checks(tmp_path):
    src = tmp_path / "in.mp4"
    make_clip(src, n=2, audio=None)
    (tmp_path / "dir.mp4").mkdir()
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    cases = {
        tmp_path / "nope" / "out.mp4": "does not exist",
        blocker / "out.mp4": "does not exist",
        tmp_path / "dir.mp4": "is a folder",
        tmp_path / "out.avi": "extension",
        src: "is the input",
    }
    for path, words in cases.items():
        with pytest.raises(BadInputError, match=words):
            check_output_path(path, src)
    assert check_output_path(tmp_path / "ok.MP4", src) == "mp4"
    assert sorted(os.listdir(tmp_path)) == ["dir.mp4", "file.txt", "in.mp4"]


def _vfr_source(path, pix_fmt: str, n: int = 24) -> tuple[VideoInfo, FrameWindow]:
    """A lossless variable-frame-rate clip of random frames in ``pix_fmt`` and its frames as read."""
    rng = np.random.default_rng(0)
    stamps = np.concatenate([[0], np.cumsum(rng.integers(25, 60, n - 1))])
    tb = Fraction(1, 1000)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        stream.time_base = stream.codec_context.time_base = tb
        for t in stamps:
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), format="rgb24")
            frame = frame.reformat(format=pix_fmt)
            frame.pts, frame.time_base = int(t), tb
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    info = probe(path)
    return info, next(read_windows(info, n))


@pytest.mark.parametrize("ext, crf, pix_fmt", [
    (".mp4", 0, "yuv420p"), (".mp4", 18, "yuv420p"), (".mkv", 18, "yuv420p"), (".mov", 18, "yuv420p10le"),
])
def test_segments_joined_equal_one_write(tmp_path, ext, crf, pix_fmt):
    """Segments written apart and joined with the sound: the frames (lossless) or frame count, the timestamps
    (variable frame rate), rate, colour, codec tag and sound of the same frames written in one go."""
    info, window = _vfr_source(tmp_path / "src.mkv", pix_fmt)
    sound = (np.sin(np.arange(48000) / 9.0).astype(np.float32)[None] * 0.2, 48000, 60000)
    whole = str(tmp_path / f"whole{ext}")
    with VideoWriter(whole, info, crf=crf, audio=sound) as writer:
        writer.write(window.frames, window.pts, window.decoded)
    joiner = SegmentJoiner(str(tmp_path / f"joined{ext}"), info, audio=sound)
    for k, (a, b) in enumerate([(0, 7), (7, 16), (16, 24)]):
        part = str(tmp_path / f"{k}{ext}")
        with VideoWriter(part, info, copy_audio=False, crf=crf) as writer:
            writer.write(window.frames[a:b], window.pts[a:b], window.decoded[a:b])
        joiner.add(part, window.pts[a:b])
    joiner.close()
    one, joined = probe(whole), probe(joiner.path)
    assert joined == dataclasses.replace(one, path=joined.path)
    got = [next(read_windows(p, 64)) for p in (one, joined)]
    np.testing.assert_array_equal(got[1].pts, got[0].pts)
    if crf == 0:
        np.testing.assert_array_equal(got[1].frames, got[0].frames)
    with av.open(whole) as a, av.open(joiner.path) as b:
        assert a.streams.video[0].codec_context.codec_tag == b.streams.video[0].codec_context.codec_tag
        assert [sum(f.samples for f in c.decode(audio=0)) for c in (a,)] == [sum(f.samples for f in b.decode(audio=0))]
