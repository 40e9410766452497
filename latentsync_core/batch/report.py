"""What happened to each row (:class:`RowReport`): the end table and the JSON report of ``batch``."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Iterable, Literal, TextIO

DONE, SKIPPED, FAILED = "done", "skipped", "failed"
Status = Literal["done", "skipped", "failed"]


@dataclass(frozen=True)
class RowReport:
    """The outcome of one row.

    Attributes:
        row: the row's number in the jobs file (1 = the first data row).
        status: ``done`` (written), ``skipped`` (its output is up to date) or ``failed``.
        seconds: wall time spent on the row (checks, model loads it caused, the job).
        frames: output frames written (0 when skipped or failed).
        output: the output path (None when the row failed before it had one).
        error: the one-line message of a failed row (None otherwise).
    """

    row: int
    status: Status
    seconds: float = 0.0
    frames: int = 0
    output: str | None = None
    error: str | None = None


def failed(reports: Iterable[RowReport]) -> list[RowReport]:
    """The failed rows of ``reports``."""
    return [r for r in reports if r.status == FAILED]


def print_table(reports: list[RowReport], file: TextIO) -> None:
    """The end table: one line per row (number, status, seconds, frames, output or error) and a total line."""
    print(f"{'row':>5}  {'status':<7}  {'seconds':>8}  {'frames':>7}  output / error", file=file)
    for r in sorted(reports, key=lambda r: r.row):
        print(f"{r.row:>5}  {r.status:<7}  {r.seconds:>8.1f}  {r.frames:>7}  {r.error or r.output or ''}", file=file)
    counts = {s: sum(r.status == s for r in reports) for s in (DONE, SKIPPED, FAILED)}
    print(f"{len(reports)} rows: {counts[DONE]} done, {counts[SKIPPED]} skipped, {counts[FAILED]} failed", file=file)


def write_report(reports: list[RowReport], path: str) -> None:
    """The JSON report at ``path`` (written atomically): ``{"rows": [{row, status, seconds, frames, output, error}]}``."""
    partial = f"{path}.{os.getpid()}.partial"
    try:
        with open(partial, "w", encoding="utf-8") as file:
            json.dump({"rows": [asdict(r) for r in sorted(reports, key=lambda r: r.row)]}, file, indent=1)
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
