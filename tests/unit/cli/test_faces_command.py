"""``python -m latentsync_core faces VIDEO`` end to end on a small clip of real faces (issue 17)."""
from __future__ import annotations

import cv2
import numpy as np

from clips import cutaway
from corpus import write_frames
from latentsync_core import cli
from latentsync_core.faces_cmd import CELL, LABEL, default_sheet
from people import head, scene


def test_faces_lists_shots_and_faces_and_writes_a_contact_sheet(tmp_path, capsys, monkeypatch):
    a, g = head("astronaut"), head("grace_hopper")
    frames = [scene([a, g])] * 6 + [cutaway((640, 360))] * 4 + [scene([None, g], seed=3) // 2] * 5
    video = tmp_path / "talk.mp4"
    write_frames(video, np.stack(frames), "rgb24", "libx264", "yuv444p", {"crf": "12"})
    monkeypatch.chdir(tmp_path)
    assert cli.main(["faces", str(video)]) == 0
    out, err = capsys.readouterr()
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [r[:3] for r in rows] == [["0", "0-5", "3:0"], ["0", "0-5", "3:1"], ["1", "6-9", "-"], ["2", "10-14", "12:0"]]
    left, right = (tuple(map(int, r[3].split(","))) for r in rows[:2])
    assert left[2] < 320 < right[0]  # numbered from the left
    assert tuple(map(int, rows[3][3].split(",")))[0] > 320
    assert err.strip() == f"latentsync faces: 3 shot(s), 3 face(s); contact sheet {default_sheet(str(video))}"
    sheet = cv2.imread(str(tmp_path / "talk.faces.png"))
    assert sheet.shape[0] == 3 * (CELL + LABEL) and sheet.shape[1] > 2 * CELL
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_faces_bad_sheet_path_is_one_line(tmp_path, capsys):
    video = tmp_path / "v.mp4"
    write_frames(video, np.stack([scene([None])] * 2), "rgb24", "libx264", "yuv420p")
    assert cli.main(["faces", str(video), "--sheet", str(tmp_path / "no" / "s.png")]) == cli.EXIT_BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "folder does not exist" in err[0]
