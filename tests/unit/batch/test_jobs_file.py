"""The jobs file of ``batch``: CSV and JSON Lines rows, option columns by option name or command-line name, paths
relative to the file, row numbers as the user counts them, one-line errors naming the column or row."""
from __future__ import annotations

import os

import pytest

from latentsync_core.batch.jobs_file import JobRow, column_names, read_job_rows
from latentsync_core.batch.plan import default_output, row_values
from latentsync_core.errors import BadInputError


def write(folder, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_csv_and_jsonl_give_the_same_rows(folder):
    csv_path = write(folder, "jobs.csv", "video, audio,output,seed,inference_steps,deepcache,allow_stylised,sr_ratio\n"
                                         "a.mp4,en.wav,,7,4,3,yes,0.5\n\n"
                                         "/abs/b.mp4,fr.wav,sub/b_fr.mp4,,,,,\n")
    jsonl_path = write(folder, "jobs.jsonl", '{"video": "a.mp4", "audio": "en.wav", "seed": 7, "steps": 4, '
                                             '"deep_cache_interval": 3, "allow_stylised": true, "sr_ratio": 0.5}\n\n'
                                             '{"video": "/abs/b.mp4", "audio": "fr.wav", "output": "sub/b_fr.mp4", '
                                             '"seed": null}\n')
    expected = [
        JobRow(1, os.path.join(folder, "a.mp4"), os.path.join(folder, "en.wav"), None,
               {"seed": 7, "steps": 4, "deep_cache_interval": 3, "allow_stylised": True, "sr_ratio": 0.5}),
        JobRow(2, "/abs/b.mp4", os.path.join(folder, "fr.wav"), "sub/b_fr.mp4", {}),
    ]
    assert read_job_rows(csv_path) == expected
    assert read_job_rows(jsonl_path) == expected


@pytest.mark.parametrize("name, text, words", [
    ("jobs.csv", "video,audio,sead\na.mp4,b.wav,3\n", ["unknown column 'sead'", "video, audio, output, version", "seed"]),
    ("jobs.jsonl", '{"video": "a.mp4", "audio": "b.wav", "speed": 2}\n', ["unknown column 'speed'", "superres"]),
    ("jobs.csv", "video,audio,seed\na.mp4,b.wav,7\nc.mp4,d.wav,seven\n", ["row 2 of", "seed must be a whole number",
                                                                         "'seven'"]),
    ("jobs.csv", "video,audio,allow_stylised\na.mp4,b.wav,maybe\n", ["row 1 of", "allow_stylised must be true or false"]),
    ("jobs.jsonl", '{"video": "a.mp4", "audio": "b.wav"}\n{"video": "c.mp4"}\n', ["row 2 of", "has no audio"]),
    ("jobs.jsonl", '{"video": "a.mp4", "audio": "b.wav"}\n[1, 2]\n', ["row 2 of", "not a JSON object"]),
    ("jobs.jsonl", '{"video": "a.mp4", "audio": \n', ["row 1 of", "is not JSON"]),
    ("jobs.csv", "video,audio\na.mp4,b.wav,extra\n", ["row 1 of", "more cells than the header"]),
    ("jobs.txt", "video,audio\n", ["extension '.txt'", ".csv", ".jsonl"]),
])
def test_bad_jobs_file_one_line_naming_the_fix(folder, name, text, words):
    with pytest.raises(BadInputError) as caught:
        read_job_rows(write(folder, name, text))
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message


def test_missing_jobs_file(folder):
    with pytest.raises(BadInputError, match="Cannot read jobs file"):
        read_job_rows(str(folder / "none.csv"))


def test_row_values_and_default_output_name():
    values = row_values({"seed": 1, "crf": 0, "version": "1.6"}, {"seed": 9})
    assert set(values) == set(column_names()) - {"video", "audio", "output", "inference_steps", "deepcache"}
    assert (values["seed"], values["crf"], values["version"], values["colour_match"]) == (9, 0, "1.6", "mean_std")
    assert default_output("/v/talk.mov", "/a/talk_fr.m4a", 0) == "talk__talk_fr.mkv"
    assert default_output("/v/talk.mov", "/a/talk_fr.m4a", 18) == "talk__talk_fr.mp4"
