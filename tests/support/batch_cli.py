"""The ``batch`` command in tests: a jobs file written from rows, and a run on the tiny random models with its
exit code, printed output and JSON report (see tests/support/lipsync_cli.py for the models)."""
from __future__ import annotations

import csv
import json
import os

from latentsync_core import cli
from lipsync_cli import FAST


def write_jobs(path, rows: list[dict]) -> str:
    """A CSV jobs file at ``path`` with one row per dict (the columns: every key, in order of first use)."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, columns)
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def run_batch(capture, jobs: str, out, models, *args: str) -> tuple[int, str, str, dict]:
    """``batch`` lossless in-process with the quick flags and ``args``; exit code, stdout and stderr as ``capture``
    (pytest's ``capsys`` or ``capfd``) caught them, and the JSON report's rows by row number."""
    code = cli.main(["batch", jobs, "--output-dir", str(out), "--models-dir", str(models), "--crf", "0",
                     "--superres", "none", *FAST, *args])
    captured = capture.readouterr()
    with open(os.path.join(out, "batch_report.json")) as file:
        return code, captured.out, captured.err, {row["row"]: row for row in json.load(file)["rows"]}
