"""The media-fidelity corpus (tests/media_corpus.py) through ``python -m latentsync_core enhance`` and
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
``MEDIA_CORPUS_REPORT=<file>`` each run's figures are appended to that file as a JSON line.
"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import media_corpus as mc
from latentsync_core import cli
from lipsync_cli import FAST

pytestmark = pytest.mark.usefixtures("tiny_architectures")

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
#: Frame timestamps must be kept to this many seconds.
TIME_TOLERANCE = 0.001


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
            reencode = mc.reference_reencode(source, corpus / f"{os.path.basename(key)}.reference.mp4")
            cache[key] = (mc.player_rgb(source), mc.player_rgb(reencode))
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


def measure_video(source, output, mode: str, references) -> tuple[dict, list[str]]:
    """Figures of ``output`` against ``source`` and the list of what is not kept."""
    failures: list[str] = []
    before, after = mc.tags(source), mc.tags(output)
    keys = mc.VIEWED if mode == "lossless" else tuple(k for k in mc.VIEWED if k != "pix_fmt")
    changed = {k: (before[k], after[k]) for k in keys if before[k] != after[k]}
    if changed:
        failures.append(f"tags changed (source, output): {changed}")
    figures: dict = {"tags_before": before, "tags_after": after}
    t_src, t_out = mc.frame_times(source), mc.frame_times(output)
    figures["frames"] = (len(t_src), len(t_out))
    if len(t_src) != len(t_out):
        failures.append(f"{len(t_out)} frames out of {len(t_src)}")
    else:
        shift = float(np.abs((t_out - t_out[0]) - (t_src - t_src[0])).max())
        figures["timestamp_error_s"] = round(shift, 4)
        if shift > TIME_TOLERANCE:
            failures.append(f"frame timestamps moved by up to {shift:.3f} s")
    source_rgb, reference_rgb = references(source)
    output_rgb = mc.player_rgb(output)
    if output_rgb.shape[1:] != source_rgb.shape[1:]:
        failures.append(f"shown size {output_rgb.shape[2]}x{output_rgb.shape[1]}, source {source_rgb.shape[2]}x{source_rgb.shape[1]}")
    else:
        mean, peak = mc.faceless_difference(source_rgb, output_rgb)
        ref_mean, ref_peak = mc.faceless_difference(source_rgb, reference_rgb)
        figures.update(faceless_mean=round(mean, 3), faceless_max=round(peak, 2),
                       reencode_mean=round(ref_mean, 3), reencode_max=round(ref_peak, 2))
        if mode == "lossy" and mean > ref_mean + mc.NOISE_MARGIN:
            failures.append(f"face-less frames differ by {mean:.2f} levels on average (max {peak:.1f}); a plain re-encode "
                            f"by {ref_mean:.2f} (max {ref_peak:.1f})")
    if mode == "lossless":
        pix_fmt = mc.stored_pix_fmt(source)
        src_planes, out_planes = mc.planes(source, pix_fmt), mc.planes(output, pix_fmt)
        unequal = [i for i in mc.CUTAWAY if i >= len(out_planes) or src_planes[i] != out_planes[i]]
        figures["faceless_planes_equal"] = not unequal
        if unequal:
            failures.append(f"face-less frames {unequal} are not equal plane by plane in {pix_fmt} "
                            f"(output stored as {after['pix_fmt']})")
    return figures, failures


def measure_sound(expected, output, seconds: float | None = None) -> tuple[dict, list[str]]:
    """Power (summed over channels) and duration of ``output``'s sound against the sound of ``expected``."""
    src, out = mc.read_sound(expected), mc.read_sound(output)
    if out is None:
        return {"sound": None}, ["the output has no sound"]
    length = min(src[0].shape[1] / src[1], out[0].shape[1] / out[1])
    db_in, db_out = mc.speech_power_db(expected, length), mc.speech_power_db(output, length)
    figures = {"power_db": (round(db_in, 2), round(db_out, 2)), "layout": (src[2], out[2]), "rate": (src[1], out[1]),
               "sound_s": (round(src[0].shape[1] / src[1], 4), round(out[0].shape[1] / out[1], 4))}
    failures = []
    if abs(db_out - db_in) > mc.POWER_TOLERANCE_DB:
        failures.append(f"sound power {db_out:.2f} dB, source {db_in:.2f} dB ({src[2]} -> {out[2]})")
    want = seconds if seconds is not None else src[0].shape[1] / src[1]
    got = out[0].shape[1] / out[1]
    if not want - 0.01 <= got <= want + 1024 / out[1] + 0.01:
        failures.append(f"sound lasts {got:.3f} s, expected {want:.3f} s")
    return figures, failures


def report(run: str, figures: dict, failures: list[str]) -> None:
    """Append the run's figures to ``$MEDIA_CORPUS_REPORT`` (when set) and fail with every failure."""
    path = os.environ.get("MEDIA_CORPUS_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"run": run, "ok": not failures, "failures": failures, **figures}, default=str) + "\n")
    assert not failures, f"{run}: " + "; ".join(failures)


VIDEO_RUNS = [(command, video, mode) for video in mc.VIDEOS for command in ("enhance", "lipsync")
              for mode in ("lossy", "lossless")]


@pytest.mark.parametrize("command, video, mode", _params(VIDEO_RUNS, DEFAULT_VIDEO_RUNS))
def test_video_case_keeps_what_a_viewer_sees(tmp_path, capsys, corpus, references, lipsync_models, command, video, mode):
    source = mc.make_video(corpus, video)
    output = tmp_path / f"out{'.mkv' if mode == 'lossless' else '.mp4'}"
    speech = mc.make_speech(corpus, "stereo")
    run_cli(capsys, command, source, output, mode, lipsync_models, speech)
    figures, failures = measure_video(source, output, mode, references)
    sound, sound_failures = measure_sound(source if command == "enhance" else speech, output,
                                          seconds=mc.durations(source)["video"] if command == "lipsync" else None)
    report(f"{command}-{video}-{mode}", {**figures, **sound}, failures + sound_failures)


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
    figures, failures = measure_sound(expected, output)
    video = mc.durations(output)["video"]
    figures["video_s"] = video
    if abs(video - mc.FRAMES / mc.FPS) > TIME_TOLERANCE:
        failures.append(f"picture lasts {video:.3f} s, expected {mc.FRAMES / mc.FPS:.3f} s")
    report(f"{command}-speech-{speech}", figures, failures)
