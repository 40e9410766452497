"""The bad-input corpus (tests/support/corpus.py) through ``python -m latentsync_core lipsync``.

Every corpus video is given with good speech, every corpus audio file with a real face clip (three
frames of the bundled sample, lossless). The models are the tiny random ones of
tests/unit/cli/test_cli_lipsync.py in the official layout, so the run is quick; what is checked is the
command: a one-line error (exit 2) and nothing left behind, or an output of the right length.
"""
from __future__ import annotations

import os

import av
import pytest

import corpus
from fake_hub import files_under
from latentsync_core import cli
from lipsync_cli import FAST, SAMPLE, assert_one_line_error, speech, write_lipsync_models, write_lossless
from video_files import decode_video

pytestmark = pytest.mark.usefixtures("tiny_architectures")


@pytest.fixture(scope="module")
def lipsync_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    write_lipsync_models(root)
    return root


def lipsync(capsys, video, audio, output, models) -> tuple[int, str]:
    code = cli.main(["lipsync", "--video", str(video), "--audio", str(audio), "--output", str(output),
                     "--superres", "none", "--models-dir", str(models), "--quiet", *FAST])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("case", list(corpus.VIDEOS))
def test_video_corpus_through_lipsync(folder, capsys, lipsync_models, case):
    """Unreadable videos are refused as by ``enhance``; the readable ones hold no face: one line too."""
    video = corpus.VIDEOS[case](folder)
    audio = speech(folder / "speech.wav", 3)
    before = files_under(folder)
    code, err = lipsync(capsys, video, audio, folder / "out.mp4", lipsync_models)
    assert code == cli.EXIT_BAD_INPUT
    words = corpus.UNREADABLE.get(case, ("No face was found", "Use a video where a face is visible"))
    assert_one_line_error(err, "bad input", video.name, *words)
    assert files_under(folder) == before


@pytest.mark.parametrize("case", list(corpus.AUDIO))
def test_audio_corpus_through_lipsync(folder, capsys, lipsync_models, case):
    """Zero-length audio is refused in one line; silent, mono, 8-channel, 8 and 96 kHz audio is lip-synced."""
    video = write_lossless(folder / "face.mkv", decode_video(SAMPLE)[:3])
    audio = corpus.make_audio(folder, case)
    before = files_under(folder)
    code, err = lipsync(capsys, video, audio, folder / "out.mp4", lipsync_models)
    rate, channels, seconds, _ = corpus.AUDIO[case]
    if seconds == 0:
        assert code == cli.EXIT_BAD_INPUT
        assert_one_line_error(err, "bad input", audio.name, "holds no samples")
        assert files_under(folder) == before
        return
    assert code == cli.EXIT_OK and err == "", err
    with av.open(os.fspath(folder / "out.mp4")) as container:
        assert container.streams.video[0].frames == 13  # 0.5 s of audio at 25 fps, rounded up
        assert container.streams.audio[0].codec_context.sample_rate in (rate, 48000, 44100, 16000)
