"""Lip sync per speaker: ``eval --speaker FACE SPEECH`` (latentsync_core.metrics.speakers) on a two-person clip.

The clip is two shots of tests/support/speaker_clips.py (the astronaut left and Grace Hopper right, then
the two swapped), 7 frames each, lossless and without sound; each speaker has their own speech (two
different tones). SyncNet has seeded random weights. Each speaker's entry must be SyncNet on that
speaker's own face (found here directly: MediaPipe's faces left to right, placed by who is where)
against that speaker's own speech: it equals a direct ``track_sync`` on those boxes, and differs from
the other speaker's face. Speaker 2 is given by position in the first shot, so finding her after the
swap needs the job's recognition.
"""
from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import torch

from audio_files import write_audio
from latentsync_core import cli
from latentsync_core.face.identity import BackendFaces
from latentsync_core.face.landmarks import get_backend
from latentsync_core.metrics.evaluate import track_sync
from latentsync_core.metrics.pcm import read_pcm16k
from latentsync_core.metrics.syncnet import SyncNet, load_syncnet
from lipsync_cli import write_lossless
from speaker_clips import tile, two_person_clip
from syncnet_fixtures import random_weights

SHOT = 7
PEOPLE = ("astronaut", "hopper")

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The clip, its frames and who is where, a picture of the astronaut, two speech files, the SyncNet file."""
    folder = tmp_path_factory.mktemp("speakers eval")
    frames, who = two_person_clip()
    frames = np.concatenate([np.repeat(frames[:1], SHOT, axis=0), np.repeat(frames[3:4], SHOT, axis=0)])
    who = [who[0]] * SHOT + [who[3]] * SHOT
    video = write_lossless(folder / "two people.mkv", frames)
    picture = folder / "astronaut.png"
    cv2.imwrite(str(picture), cv2.cvtColor(tile("astronaut"), cv2.COLOR_RGB2BGR))
    t = np.arange(round(len(frames) / 25 * 16000)) / 16000
    speeches = []
    for k, (pitch, rate) in enumerate(((140.0, 4.0), (230.0, 7.0))):
        wave = 0.3 * (0.6 + 0.4 * np.sin(2 * math.pi * rate * t)) * np.sin(2 * math.pi * pitch * t)
        speeches.append(str(folder / f"speaker {k + 1}.wav"))
        write_audio(speeches[-1], wave[None].astype(np.float32), 16000, "pcm_s16le")
    syncnet = folder / "syncnet_v2.model"
    torch.save(random_weights(SyncNet().state_dict(), 3), syncnet)
    return video, frames, who, str(picture), speeches, str(syncnet)


def expected_boxes(frames: np.ndarray, who: list[dict[str, str]], person: str) -> np.ndarray:
    """``person``'s face box in each frame: of MediaPipe's two faces (left to right), the one in their slot."""
    faces = BackendFaces(get_backend("mediapipe"))
    boxes = []
    for frame, places in zip(frames, who):
        found = faces(frame)
        assert len(found) == 2, "the clip shows two faces in every frame"
        boxes.append(found[0 if places[person] == "left" else 1])
    return np.asarray(boxes, dtype=np.float64)


def test_eval_scores_each_speaker_on_their_own_face_against_their_own_speech(files, tmp_path, capsys):
    video, frames, who, picture, speeches, syncnet = files
    report_path = tmp_path / "report.json"
    code = cli.main(["eval", "--video", video, "--speaker", picture, speeches[0], "--speaker", "0:1", speeches[1],
                     "--syncnet", syncnet, "--json", str(report_path), "--quiet"])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_OK, err
    lines = [line for line in out.splitlines() if line.startswith("speaker ")]
    assert [line.split(":")[0] for line in lines] == ["speaker 1", "speaker 2"], out
    assert all(f"(frames 0-{2 * SHOT - 1}, their own track)" in line for line in lines), lines
    report = json.loads(report_path.read_text())
    assert "no audio track" in report["sync_note"]  # the video has no sound; each speaker brings their own
    entries = report["speakers"]
    assert [e["speaker"] for e in entries] == [1, 2]

    model = load_syncnet(syncnet, "cpu")
    again = lambda: iter([frames])  # noqa: E731
    has_face = np.ones(len(frames), dtype=bool)
    boxes = [expected_boxes(frames, who, person) for person in PEOPLE]
    for k, entry in enumerate(entries):
        own, _ = track_sync(model, read_pcm16k(speeches[k]), 25.0, has_face, boxes[k], again)
        other, _ = track_sync(model, read_pcm16k(speeches[k]), 25.0, has_face, boxes[1 - k], again)
        assert entry["sync"]["lse_c"] == round(own.scores.confidence, 4), f"speaker {k + 1}"
        assert entry["sync"]["lse_d"] == round(own.scores.distance, 4), f"speaker {k + 1}"
        assert entry["sync"]["av_offset_frames"] == own.scores.offset and entry["sync"]["windows"] == own.scores.windows
        assert round(other.scores.distance, 4) != entry["sync"]["lse_d"], "the other face scores the same: the test tests nothing"


def test_a_reference_matching_no_face_is_one_line(files, tmp_path, capsys):
    video, _, _, _, speeches, syncnet = files
    stranger = tmp_path / "stranger.png"
    cv2.imwrite(str(stranger), cv2.cvtColor(tile("stranger"), cv2.COLOR_RGB2BGR))
    code = cli.main(["eval", "--video", video, "--speaker", str(stranger), speeches[0], "--syncnet", syncnet, "--quiet"])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == cli.EXIT_BAD_INPUT and len(lines) == 1, err
    assert "Speaker 1's reference matches no face in the video" in lines[0]
