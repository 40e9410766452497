"""``python -m latentsync_core eval`` and ``enhance --eval``: the table, the JSON, missing model and audio."""
from __future__ import annotations

import json
from fractions import Fraction

import pytest
import torch

from cli_errors import assert_one_line_error
from clips import face_frames
from latentsync_core import cli
from latentsync_core.metrics.syncnet import SYNCNET_URL, SyncNet
from lipsync_cli import FAST, speech, write_lipsync_models, write_lossless
from syncnet_fixtures import random_weights
from video_files import make_clip

pytestmark = pytest.mark.usefixtures("tiny_architectures")


@pytest.fixture(scope="module")
def syncnet_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "syncnet_v2.model"
    net = SyncNet()
    torch.save(random_weights(net.state_dict(), 3), path)
    return path


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "talk.mp4"
    make_clip(path, frames=face_frames(9), fps=Fraction(25))
    return path


def test_eval_prints_table_and_writes_json(clip, syncnet_file, tmp_path, capsys):
    torch.set_num_threads(1)
    out = tmp_path / "report.json"
    code = cli.main(["eval", "--video", str(clip), "--source", str(clip), "--syncnet", str(syncnet_file),
                     "--json", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "LSE-C" in captured.out and "PSNR outside mouth" in captured.out
    report = json.loads(out.read_text())
    assert report["frames"] == 9 and report["face_frames"] == 9
    assert report["sync"]["windows"] == 4 and -15 <= report["sync"]["av_offset_frames"] <= 15
    assert report["sync"]["lse_d"] > 0 and report["sync"]["lse_c"] >= 0
    assert report["identity_outside_mouth"] == {"psnr_db": "inf", "ssim": 1.0}
    assert report["stability_ratio"] == 1.0


def test_missing_syncnet_offline_exit_3_names_file_folder_url(clip, tmp_path, capsys):
    models = tmp_path / "models"
    code = cli.main(["eval", "--video", str(clip), "--models-dir", str(models), "--offline", "--quiet"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_MISSING_MODEL
    assert_one_line_error(err, "syncnet_v2.model", str(models / "syncnet"), SYNCNET_URL)


def test_video_without_audio_reports_image_metrics_and_why_no_sync(tmp_path, capsys):
    path = tmp_path / "silent.mp4"
    make_clip(path, frames=face_frames(4), fps=Fraction(25), audio=None)
    code = cli.main(["eval", "--video", str(path), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "no audio track" in out and "mouth sharpness" in out


def test_enhance_eval_reports_output_against_input(clip, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    code = cli.main(["enhance", "--input", str(clip), "--output", str(out), "--superres", "none", "--quiet",
                     "--eval", "--no-sync", "--json", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "SSIM outside mouth" in captured.out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["sync_note"] == "skipped (--no-sync)"
    assert report["identity_outside_mouth"]["ssim"] > 0.9


def test_lipsync_eval_reports_the_synced_video(tmp_path, capsys, syncnet_file, sample_frames):
    """``lipsync --eval``: the same table for the written video, scored against its new sound track and
    compared with the source video (random tiny LatentSync models, see tests/unit/cli/test_cli_lipsync.py)."""
    models = tmp_path / "models"
    models.mkdir()
    write_lipsync_models(models)
    clip = write_lossless(tmp_path / "clip.mkv", sample_frames[:7])
    out = tmp_path / "synced.mp4"
    code = cli.main(["lipsync", "--video", clip, "--audio", speech(tmp_path / "s.wav", 7), "--output", str(out),
                     "--superres", "none", "--length_mode", "trim", "--models-dir", str(models), *FAST, "--quiet",
                     "--eval", "--syncnet", str(syncnet_file), "--json", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "LSE-C" in captured.out and "SSIM outside mouth" in captured.out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["frames"] == 7 and report["sync"]["windows"] == 2
    assert 0 < report["identity_outside_mouth"]["ssim"] < 1  # the lower face was regenerated
