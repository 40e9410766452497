"""The media-fidelity corpus (tests/support/media_corpus.py) through ``python -m latentsync_core enhance`` and
``lipsync``: only the mouth may change.

Each source is decoded as a player shows it (the ffmpeg command line honouring its tags) and so is
the output; checked: the tags a viewer's picture depends on (matrix, range, primaries, transfer,
bit depth; in lossless mode the pixel format too; the shown size and orientation), the face-less
cutaway frames (lossy: no further from the source than a plain ``libx264 -crf 18`` re-encode of it,
plus 0.3 levels on average; lossless: plane by plane equal), the frame count and every frame's
timestamp, the durations of picture and sound, and the sound's power summed over its channels
(within 1 dB). ``enhance`` runs with ``--superres none`` (only decode and re-encode), ``lipsync``
with tiny random-weight models; both lossy (the default, .mp4) and lossless (``--crf 0``, .mkv).

The full matrix is marked ``slow``; a representative subset runs by default. Every check of a run
is measured before any is asserted, so a failure names all that is wrong; with
``MEDIA_CORPUS_REPORT=<file>`` each run's figures are appended to that file as a JSON line
(:func:`media_corpus.record`).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import media_corpus as mc
from latentsync_core import cli
from lipsync_cli import FAST
from player import ffmpeg_installed, player_rgb, reencode, run_tool

pytestmark = [
    pytest.mark.usefixtures("tiny_architectures"),
    pytest.mark.skipif(not ffmpeg_installed(),
                       reason="the corpus is made and judged by the ffmpeg command line: apt-get install ffmpeg"),
]

#: Runs by default (the rest of the matrix with ``-m slow``).
DEFAULT_VIDEO_RUNS = {
    ("enhance", "bt709_hd", "lossy"), ("enhance", "bt709_hd", "lossless"),
    ("lipsync", "bt709_hd", "lossy"), ("lipsync", "bt709_hd", "lossless"),
    ("lipsync", "bt709_full", "lossy"), ("lipsync", "hlg_10bit", "lossy"), ("enhance", "hlg_10bit", "lossless"),
    ("lipsync", "rotated_90", "lossy"), ("lipsync", "vfr", "lossy"),
}
DEFAULT_SPEECH_RUNS = {("lipsync", "5_1"), ("lipsync", "22000hz")}
#: The video the speech cases are lip-synced onto (SD: the cheapest face).
SPEECH_VIDEO = "bt601_sd"


def _params(runs: list[tuple[str, ...]], default: set[tuple[str, ...]]) -> list:
    return [pytest.param(*run, id="-".join(run), marks=() if run in default else pytest.mark.slow) for run in runs]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The folder the corpus files are written into (each on first use)."""
    return tmp_path_factory.mktemp("media_corpus")


@pytest.fixture(scope="module")
def references(corpus):
    """Source path -> (player decode of the source, of its plain re-encode), computed once per source."""
    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def get(source) -> tuple[np.ndarray, np.ndarray]:
        key = os.fspath(source)
        if key not in cache:
            reference = reencode(source, corpus / f"{os.path.basename(key)}.reference.mp4", mc.REFERENCE_SETTINGS)
            cache[key] = (player_rgb(source), player_rgb(reference))
        return cache[key]

    return get


def run_cli(capsys, command: str, source, output, mode: str, models, speech=None) -> None:
    """``python -m latentsync_core <command>`` in-process on ``source``; fails with its stderr when it fails."""
    args = [command, "--superres", "none", "--output", os.fspath(output), "--quiet"]
    if mode == "lossless":
        args += ["--crf", "0"]
    if command == "enhance":
        args += ["--input", os.fspath(source), "--device", "cpu", "--offline", "--landmark_cache", "off"]
    else:
        args += ["--video", os.fspath(source), "--audio", os.fspath(speech), "--length_mode", "pad_audio",
                 "--models-dir", os.fspath(models), *FAST]
    code = cli.main(args)
    err = capsys.readouterr().err
    assert code == cli.EXIT_OK, f"{command} exited {code}: {err.strip()[-2000:]}"


VIDEO_RUNS = [(command, video, mode) for video in mc.VIDEOS for command in ("enhance", "lipsync")
              for mode in ("lossy", "lossless")]


@pytest.mark.parametrize("command, video, mode", _params(VIDEO_RUNS, DEFAULT_VIDEO_RUNS))
def test_video_case_keeps_what_a_viewer_sees(tmp_path, capsys, corpus, references, lipsync_models, command, video, mode):
    source = mc.make_video(corpus, video)
    output = tmp_path / f"out{'.mkv' if mode == 'lossless' else '.mp4'}"
    speech = mc.make_speech(corpus, "stereo")
    run_cli(capsys, command, source, output, mode, lipsync_models, speech)
    figures, failures = mc.measure_video(source, output, mode, references(source))
    sound, sound_failures = mc.measure_sound(source if command == "enhance" else speech, output,
                                          seconds=mc.durations(source)["video"] if command == "lipsync" else None)
    mc.record(f"{command}-{video}-{mode}", {**figures, **sound}, failures + sound_failures)


SPEECH_RUNS = [(command, speech) for speech in mc.SPEECH for command in ("lipsync", "enhance")]


@pytest.mark.parametrize("command, speech", _params(SPEECH_RUNS, DEFAULT_SPEECH_RUNS))
def test_speech_case_is_heard_in_the_output(tmp_path, capsys, corpus, lipsync_models, command, speech):
    """``lipsync`` with the case as ``--audio``; ``enhance`` of a video whose sound track is the case (Matroska)."""
    output = tmp_path / "out.mp4"
    if command == "lipsync":
        expected = mc.make_speech(corpus, speech)
        run_cli(capsys, command, mc.make_video(corpus, SPEECH_VIDEO), output, "lossy", lipsync_models, expected)
    else:
        expected = mc.make_video_with_speech(corpus, speech, SPEECH_VIDEO)
        run_cli(capsys, command, expected, output, "lossy", lipsync_models)
    figures, failures = mc.measure_sound(expected, output)
    video = mc.durations(output)["video"]
    figures["video_s"] = video
    if abs(video - mc.FRAMES / mc.FPS) > mc.TIME_TOLERANCE:
        failures.append(f"picture lasts {video:.3f} s, expected {mc.FRAMES / mc.FPS:.3f} s")
    mc.record(f"{command}-speech-{speech}", figures, failures)


def test_checks_pass_a_faithful_copy_and_catch_a_wrong_matrix_and_a_lost_channel(tmp_path, corpus, references):
    """The yardsticks themselves, on files made by the ffmpeg command line: a plain re-encode and a lossless
    FFV1 copy keep everything; a copy converted with BT.709 and left untagged (shown as BT.601: SD) fails the
    tags and the level rule;
    a standard downmix of 5.1 keeps the power, keeping only the front pair does not."""
    source = mc.make_video(corpus, "bt601_sd")
    plain = reencode(source, tmp_path / "reencode.mp4", mc.REFERENCE_SETTINGS)
    figures, failures = mc.measure_video(source, plain, "lossy", references(source))
    assert not failures and figures["faceless_mean"] == figures["reencode_mean"] < 1.5
    lossless = tmp_path / "lossless.mkv"
    run_tool(["ffmpeg", "-v", "error", "-i", os.fspath(source), "-c:v", "ffv1", "-c:a", "copy", os.fspath(lossless)])
    assert mc.measure_video(source, lossless, "lossless", references(source))[1] == []
    wrong = tmp_path / "bt709_untagged.mp4"
    run_tool(["ffmpeg", "-v", "error", "-i", os.fspath(source), "-vf", "scale=in_color_matrix=bt601:out_color_matrix=bt709",
             *mc.REFERENCE_SETTINGS, "-color_primaries", "unknown", "-color_trc", "unknown", "-colorspace", "unknown",
             os.fspath(wrong)])
    figures, failures = mc.measure_video(source, wrong, "lossy", references(source))
    assert [f.split(" ")[0] for f in failures] == ["tags", "face-less"], failures
    surround = mc.make_speech(corpus, "5_1")
    for mix, keeps in (("-ac", True), ("pan", False)):
        out = tmp_path / f"{mix}.m4a"
        how = ["-ac", "2"] if mix == "-ac" else ["-af", "pan=stereo|c0=FL|c1=FR"]
        run_tool(["ffmpeg", "-v", "error", "-i", os.fspath(surround), *how, "-c:a", "aac", os.fspath(out)])
        assert (mc.measure_sound(surround, out)[1] == []) == keeps, mc.measure_sound(surround, out)
