"""The bad-input corpus (tests/support/corpus.py) through the command line, the core loaders and the nodes.

Every case ends in one of two ways: a correct pass-through (the output holds every frame, upright,
at the right size, with the source's timestamps and audio), or a one-line error that names the
problem and the fix, with no traceback and nothing left in the output folder. The README's
Troubleshooting table lists what the user sees for each case.

All files are generated into ``tmp_path`` (a folder whose name has spaces and non-ASCII letters)
by PyAV/numpy; nothing is committed. The node cases are in test_bad_inputs_nodes.py.
"""
from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest
import torch

import corpus
from cli_errors import assert_one_line_error
from latentsync_core import cli
from latentsync_core.errors import BadInputError
from latentsync_core.lipsync.audio import embed_audio_for_video
from latentsync_core.lipsync.checkpoints import load_unet
from latentsync_core.lipsync.whisper import load_whisper
from video_files import assert_same_frames, decode_video, frame_times


def enhance(capsys, src: Path, out: Path, *options: str) -> tuple[int, str]:
    """``enhance`` in-process, quiet; returns the exit code and stderr."""
    code = cli.main(["enhance", "--input", str(src), "--output", str(out), "--quiet", "--preset", "ultrafast", *options])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", list(corpus.VIDEOS))
def test_video_corpus_through_enhance(folder, capsys, case):
    src = corpus.VIDEOS[case](folder)
    out = folder / f"out {case}.mp4"
    before = sorted(os.listdir(folder))
    code, err = enhance(capsys, src, out, "--superres", "none")
    if case in corpus.UNREADABLE:
        assert code == cli.EXIT_BAD_INPUT
        assert_one_line_error(err, "bad input", src.name, *corpus.UNREADABLE[case])
        assert sorted(os.listdir(folder)) == before  # no output, no partial file
        return
    assert code == cli.EXIT_OK and err == "", err  # --quiet: nothing on stderr
    assert sorted(os.listdir(folder)) == sorted(before + [out.name])
    ref = decode_video(src)
    if case == "rotated":  # display matrix: 90 degrees counter-clockwise
        ref = np.rot90(ref, 1, axes=(1, 2))
    got = decode_video(out)
    h, w = ref.shape[1:3]
    assert got.shape == (len(ref), h + h % 2, w + w % 2, 3)  # odd sizes padded by one edge pixel
    assert_same_frames(np.ascontiguousarray(got[:, :h, :w]), np.ascontiguousarray(ref))
    if case == "vfr":
        assert frame_times(out) == frame_times(src)


@pytest.mark.parametrize("codec", ["aac", "pcm_s16le"])
@pytest.mark.parametrize("case", list(corpus.AUDIO))
def test_audio_track_corpus_through_enhance(folder, capsys, case, codec):
    """Odd audio tracks are carried over as they are (zero-length ones are dropped)."""
    src = corpus.make_video_with_audio(folder, case, codec)
    out = folder / "out.mp4"
    code, err = enhance(capsys, src, out, "--superres", "none")
    assert code == cli.EXIT_OK, err
    rate, channels, seconds, _ = corpus.AUDIO[case]
    with av.open(os.fspath(out)) as container:
        assert container.streams.video[0].frames == 12
        streams = container.streams.audio
        if seconds == 0:
            assert not streams or sum(f.samples for f in container.decode(streams[0])) == 0
            return
        stream = streams[0]
        assert (stream.codec_context.sample_rate, stream.codec_context.channels) == (rate, channels)
        samples = sum(f.samples for f in container.decode(stream))
    assert abs(samples - rate * seconds) <= 2048  # AAC priming and padding


@pytest.mark.parametrize("case", list(corpus.AUDIO))
def test_audio_corpus_through_whisper_embeds(folder, small_encoder, case):
    waveform, rate = corpus.waveform(folder, case)
    if corpus.AUDIO[case][2] == 0:
        with pytest.raises(BadInputError, match=r"too short \(0 samples at \d+ Hz\); give at least 20 ms") as info:
            embed_audio_for_video(small_encoder, waveform, rate, 12, 25.0)
        assert "\n" not in str(info.value)
        return
    embeds, fitted = embed_audio_for_video(small_encoder, waveform, rate, 12, 25.0)
    assert embeds.embeddings.shape == (13, 20, 32) and torch.isfinite(embeds.embeddings).all()  # 0.5 s at 25 fps
    assert fitted.shape[:2] == waveform.shape[:2]


MODEL_CASES = {
    "truncated": lambda path: corpus.make_truncated_model(_small_weights(path.with_suffix(".whole")), path),
    "wrong-architecture": corpus.make_wrong_architecture,
    "pickle-with-code": corpus.make_pickle_with_code,
    "text-file": lambda path: path.write_text("not a model\n") and path,
}


def _small_weights(path: Path) -> Path:
    torch.save({"params_ema": {"conv.weight": torch.randn(64, 64, 3, 3)}, "state_dict": {}}, path)
    return path


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_bad_restorer_file_through_enhance(folder, capsys, case, tmp_path):
    """A bad GFPGANv1.4.pth in the models folder: exit 2, one line naming the file and the fix; its code never runs."""
    models = tmp_path / "models"
    models.mkdir()
    MODEL_CASES[case](models / "GFPGANv1.4.pth")
    src = corpus.make_frames(folder, 2)
    code, err = enhance(capsys, src, folder / "out.mp4", "--superres", "GFPGAN", "--models-dir", str(models))
    assert code == cli.EXIT_BAD_INPUT and not (models / "GFPGANv1.4.pth.ran").exists()
    expected = {"wrong-architecture": ("not a recognised model", "GFPGAN")}.get(case, ("GFPGANv1.4.pth", "Use the official"))
    assert_one_line_error(err, "bad input", *expected)
    assert sorted(os.listdir(folder)) == [src.name]


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_bad_lipsync_model_files(tmp_path, case):
    """The UNet and Whisper loaders refuse each bad file with a one-line message naming the fix."""
    unet = MODEL_CASES[case](tmp_path / "latentsync_unet.pt")
    with pytest.raises(BadInputError) as info:
        load_unet(str(unet), version="1.5")
    message = str(info.value)
    assert "\n" not in message and ("not a LatentSync UNet" in message or "huggingface.co/ByteDance/LatentSync-1.5" in message)
    whisper = MODEL_CASES[case](tmp_path / "tiny.pt")
    with pytest.raises(BadInputError) as info:
        load_whisper(str(whisper))
    assert "\n" not in str(info.value) and "whisper/tiny.pt" in str(info.value)
    assert not (tmp_path / "latentsync_unet.pt.ran").exists() and not (tmp_path / "tiny.pt.ran").exists()


def test_unwritable_output_folder(folder, capsys, tmp_path):
    src = corpus.make_frames(folder, 2)
    with corpus.read_only_folder(tmp_path / "read only") as out_dir:
        code, err = enhance(capsys, src, out_dir / "out.mp4", "--superres", "none")
        assert os.listdir(out_dir) == []
    assert code == cli.EXIT_BAD_INPUT
    assert_one_line_error(err, "bad input", "not writable", "Choose another output path")


def test_full_disk(folder, capsys, tmp_path):
    """The disk fills up while the video is written: one line, exit 2, and the partial file is gone."""
    src = corpus.make_size(folder, 640, 480, n=20)
    with corpus.full_disk(tmp_path / "tiny disk", "96k") as out_dir:
        code, err = enhance(capsys, src, out_dir / "out.mp4", "--superres", "none", "--crf", "0")
        left = os.listdir(out_dir)
    assert code == cli.EXIT_BAD_INPUT and left == []
    assert_one_line_error(err, "bad input", "Not enough space", "Free some disk space")
