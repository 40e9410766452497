"""The record beside an output (``<output>.latentsync.json``): up to date only for the same inputs, options, pack
version and the output as it was recorded; written atomically."""
from __future__ import annotations

import json
import os

from latentsync_core.run.output_record import HEAD_TAIL_BYTES, is_up_to_date, pack_version, record_path, write_record


def test_up_to_date_only_while_inputs_options_and_output_are_unchanged(tmp_path):
    video, output = tmp_path / "v.mp4", tmp_path / "out.mp4"
    video.write_bytes(b"v" * (3 * HEAD_TAIL_BYTES))
    output.write_bytes(b"out")
    inputs, values = {"video": str(video)}, {"seed": 1, "sr_ratio": 1.0, "bg_upscale": None}
    assert not is_up_to_date(str(output), inputs, values)  # no record yet
    write_record(str(output), inputs, values)
    assert sorted(os.listdir(tmp_path)) == ["out.mp4", "out.mp4.latentsync.json", "v.mp4"]
    with open(record_path(str(output))) as file:
        assert json.load(file)["pack_version"] == pack_version() != "unknown"
    assert is_up_to_date(str(output), inputs, values)
    assert not is_up_to_date(str(output), inputs, {**values, "seed": 2})
    stat = os.stat(video)
    with open(video, "r+b") as file:  # the same size and time, another last byte
        file.seek(stat.st_size - 1)
        file.write(b"x")
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert not is_up_to_date(str(output), inputs, values)
    write_record(str(output), inputs, values)
    output.write_bytes(b"other")
    assert not is_up_to_date(str(output), inputs, values)
    with open(record_path(str(output)), "w") as file:
        file.write("{not json")
    assert not is_up_to_date(str(output), inputs, values)
