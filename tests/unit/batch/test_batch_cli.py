"""``python -m latentsync_core batch``: rows on tiny random models (see tests/support/lipsync_cli.py), a bad row
reported with its number while the others finish, the exit code, the table and JSON report, the record beside
each output, and a rerun that skips complete rows but runs a row whose option or input changed or whose output
is gone.

Clips: 6 lossless frames of the sample (2 face frames, 4 of its cutaway), so a row takes about a second.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from latentsync_core import cli
from latentsync_core.run.output_record import record_path
from batch_cli import run_batch, write_jobs
from lipsync_cli import FAST, speech, write_lossless
from video_files import decode_video

pytestmark = pytest.mark.usefixtures("tiny_architectures")


@pytest.fixture()
def inputs(tmp_path, sample_frames):
    """A clip, two speeches, and the jobs file of four rows: (clip, en), (clip, fr), a missing video, (clip, en) at
    seed 7 into its own output."""
    clip = write_lossless(tmp_path / "clip.mkv", sample_frames[43:49])
    en, fr = speech(tmp_path / "en.wav", 6), speech(tmp_path / "fr.wav", 5)
    rows = [{"video": "clip.mkv", "audio": "en.wav"}, {"video": "clip.mkv", "audio": "fr.wav"},
            {"video": "missing.mkv", "audio": "en.wav"},
            {"video": "clip.mkv", "audio": "en.wav", "output": "seed7.mkv", "seed": "7"}]
    return clip, en, fr, rows


def test_rows_run_a_bad_row_is_reported_the_others_finish_rerun_skips_change_reruns(
    tmp_path, capsys, lipsync_models, inputs
):
    clip, en, fr, rows = inputs
    jobs, out = write_jobs(tmp_path / "jobs.csv", rows), tmp_path / "out"
    code, table, err, report = run_batch(capsys, jobs, out, lipsync_models)

    assert code == cli.EXIT_ERROR, err
    assert err.splitlines()[0].startswith("row 3: bad input: ") and "missing.mkv" in err.splitlines()[0], err
    assert err.strip().splitlines()[-1] == (
        f"latentsync batch: error: 1 of 4 rows failed (see the table, or {out / 'batch_report.json'})."), err
    assert [report[n]["status"] for n in (1, 2, 3, 4)] == ["done", "done", "failed", "done"]
    assert "does not exist" in report[3]["error"] and report[3]["frames"] == 0
    assert table.strip().splitlines()[-1] == "4 rows: 3 done, 0 skipped, 1 failed"
    outputs = [out / "clip__en.mkv", out / "clip__fr.mkv", out / "seed7.mkv"]
    assert [report[n]["output"] for n in (1, 2, 4)] == list(map(str, outputs))
    assert [report[n]["frames"] for n in (1, 2, 4)] == [6, 5, 6]  # the output follows the speech (pingpong)
    assert all(os.path.isfile(record_path(str(p))) for p in outputs)
    assert sorted(os.listdir(out)) == sorted([*(p.name for p in outputs), *(f"{p.name}.latentsync.json" for p in outputs),
                                              "batch_report.json"])

    # The same row as one lipsync run gives the same frames: the models and the landmark backend a batch reuses
    # carry nothing from one row to the next (row 1 ran first, row 4 after two others).
    alone = tmp_path / "alone.mkv"
    assert cli.main(["lipsync", "--video", clip, "--audio", en, "--output", str(alone), "--models-dir",
                     str(lipsync_models), "--crf", "0", "--superres", "none", "--seed", "7", *FAST, "--quiet"]) == 0
    assert np.array_equal(decode_video(alone), decode_video(outputs[2]))
    assert not np.array_equal(decode_video(outputs[0]), decode_video(outputs[2]))  # the seed column was used

    # Rerun without the bad row: complete rows are skipped and left untouched.
    good = [rows[0], rows[1], rows[3]]
    jobs = write_jobs(tmp_path / "jobs.csv", good)
    stamps = [os.stat(p).st_mtime_ns for p in outputs]
    code, table, err, report = run_batch(capsys, jobs, out, lipsync_models)
    assert code == cli.EXIT_OK, err
    assert [r["status"] for r in report.values()] == ["skipped"] * 3
    assert [os.stat(p).st_mtime_ns for p in outputs] == stamps

    # A changed option (row 2's seed) reruns that row only; then a changed input (row 2's speech) and a deleted
    # output (row 3's) rerun theirs.
    good[1] = {**rows[1], "seed": "3"}
    jobs = write_jobs(tmp_path / "jobs.csv", good)
    code, table, err, report = run_batch(capsys, jobs, out, lipsync_models)
    assert [r["status"] for r in report.values()] == ["skipped", "done", "skipped"], report
    speech(fr, 4)
    os.remove(outputs[2])
    code, table, err, report = run_batch(capsys, jobs, out, lipsync_models)
    assert code == cli.EXIT_OK and [r["status"] for r in report.values()] == ["skipped", "done", "done"], report
    assert report[2]["frames"] == 4 and os.path.isfile(outputs[2])


def test_an_unknown_column_stops_before_any_row_exit_2_one_line(tmp_path, capsys, lipsync_models):
    jobs = write_jobs(tmp_path / "jobs.csv", [{"video": "a.mp4", "audio": "b.wav", "sead": "3"}])
    code = cli.main(["batch", jobs, "--output-dir", str(tmp_path / "out"), "--models-dir", str(lipsync_models), *FAST])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT and len(err.strip().splitlines()) == 1, err
    assert err.startswith("latentsync batch: bad input: ") and "unknown column 'sead'" in err and "seed" in err
    assert not (tmp_path / "out").exists()
