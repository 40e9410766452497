"""``python -m latentsync_core lipsync --speaker FACE SPEECH ...``: several speakers on tiny random models.

The clip is the first shot of tests/support/speaker_clips.py (two people side by side) and a cutaway,
as a lossless .mkv; one speaker is given by a picture of her face, the other by FRAME:INDEX. What is
checked is the command: exit code, frame count, the sound written (the mix, or --mix), the cutaway
bit for bit, each face changed, and its one-line errors.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from latentsync_core import cli
from latentsync_core.media.audio_io import read_audio
from lipsync_cli import FAST, assert_one_line_error, speech, write_lossless
from speaker_clips import face_box, two_person_clip
from video_files import decode_video

pytestmark = pytest.mark.usefixtures("tiny_architectures")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """The two-person shot (3 frames) and the cutaway (2 frames) as a lossless .mkv; a picture of the astronaut."""
    import cv2

    from speaker_clips import tile

    frames, _ = two_person_clip()
    frames = np.concatenate([frames[:3], frames[8:10]])
    folder = tmp_path_factory.mktemp("speakers")
    picture = folder / "astronaut face.png"
    cv2.imwrite(str(picture), cv2.cvtColor(tile("astronaut"), cv2.COLOR_RGB2BGR))
    return write_lossless(folder / "two people.mkv", frames), frames, str(picture)


def run(capsys, *args: str) -> tuple[int, str]:
    code = cli.main(["lipsync", *args, "--quiet"])
    return code, capsys.readouterr().err


def test_two_speakers_each_face_changed_the_cutaway_bit_identical_sound_the_mix(tmp_path, capsys, lipsync_models, clip):
    video, frames, picture = clip
    out = tmp_path / "out.mkv"
    code, err = run(capsys, "--video", video, "--speaker", picture, speech(tmp_path / "a.wav", 5),
                    "--speaker", "0:1", speech(tmp_path / "b.wav", 3), "--output", str(out), "--crf", "0",
                    "--superres", "none", "--length_mode", "pad_audio", "--models-dir", str(lipsync_models), *FAST)
    assert code == cli.EXIT_OK, err
    got = decode_video(out)
    assert got.shape == frames.shape
    assert np.array_equal(got[3:], frames[3:]), "the cutaway changed"
    for slot in ("left", "right"):
        x0, y0, x1, y1 = face_box(slot)
        assert (got[:3, y0:y1, x0:x1] != frames[:3, y0:y1, x0:x1]).any(axis=(1, 2, 3)).all(), f"the {slot} face unchanged"
    assert abs(read_audio(out).duration - 0.2) < 0.07


def test_a_mix_file_is_the_sound_written(tmp_path, capsys, lipsync_models, clip):
    video, frames, _ = clip
    out = tmp_path / "out.mp4"
    code, err = run(capsys, "--video", video, "--speaker", "0:0", speech(tmp_path / "a.wav", 5), "--mix",
                    speech(tmp_path / "mix.wav", 2), "--output", str(out), "--superres", "none", "--length_mode",
                    "pad_audio", "--models-dir", str(lipsync_models), *FAST)
    assert code == cli.EXIT_OK, err
    sound = read_audio(out)
    assert 0.08 - 0.01 <= sound.duration <= 0.2 + 0.07  # the 2-frame mix, padded with silence to the video


@pytest.mark.parametrize("args, words", [
    (["--audio", "a.wav", "--speaker", "0:0", "a.wav"], ["either --audio", "--speaker"]),
    (["--audio", "a.wav", "--mix", "a.wav"], ["--mix goes with --speaker"]),
    (["--speaker", "no picture.png", "a.wav"], ["neither an image file nor FRAME:INDEX"]),
    (["--speaker", "0:5", "a.wav"], ["0:5", "shows 2 face"]),
])
def test_bad_speakers_exit_2_one_line_nothing_left(tmp_path, capsys, lipsync_models, clip, args, words):
    video = clip[0]
    speech(tmp_path / "a.wav", 3)
    args = [str(tmp_path / a) if a.endswith(".wav") else a for a in args]
    code, err = run(capsys, "--video", video, *args, "--output", str(tmp_path / "out.mp4"), "--superres", "none",
                    "--models-dir", str(lipsync_models), *FAST)
    assert code == cli.EXIT_BAD_INPUT, err
    assert_one_line_error(err, "bad input", *words)
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.slow  # about a minute on a shared 2-core CPU
def test_eval_scores_each_speaker_against_their_own_track(tmp_path, capsys, lipsync_models):
    """``lipsync --speaker ... --eval``: the table of the whole video, then one line per speaker: SyncNet
    (random weights) on that speaker's face against their own track, over the frames their face is in."""
    import torch

    from latentsync_core.metrics.syncnet import SyncNet
    from syncnet_fixtures import random_weights

    syncnet = tmp_path / "syncnet_v2.model"
    torch.save(random_weights(SyncNet().state_dict(), 3), syncnet)
    frames = np.repeat(two_person_clip()[0][:1], 8, axis=0)
    video = write_lossless(tmp_path / "two.mkv", frames)
    code = cli.main(["lipsync", "--video", video, "--speaker", "0:0", speech(tmp_path / "a.wav", 8), "--speaker", "0:1",
                     speech(tmp_path / "b.wav", 8), "--output", str(tmp_path / "out.mp4"), "--superres", "none",
                     "--length_mode", "trim", "--models-dir", str(lipsync_models), *FAST, "--quiet", "--eval",
                     "--syncnet", str(syncnet), "--json", str(tmp_path / "r.json")])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_OK, err
    lines = [line for line in out.splitlines() if line.startswith("speaker ")]
    assert [line.split(":")[0] for line in lines] == ["speaker 1", "speaker 2"]
    assert all("LSE-C" in line and "(frames 0-7, their own track)" in line for line in lines), lines
    report = json.loads((tmp_path / "r.json").read_text())
    assert [(e["speaker"], e["sync"]["first_frame"], e["sync"]["last_frame"]) for e in report["speakers"]] == [(1, 0, 7), (2, 0, 7)]
