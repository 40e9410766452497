"""The progress bars of ``batch``: one over the rows, one over the current row's frames (tqdm, on stderr)."""
from __future__ import annotations

import sys
from typing import Any

from ..run.hooks import STAGE_ALIGN, STAGE_WRITE
from .report import FAILED, RowReport

FRAME_STAGES = {STAGE_ALIGN: "align", STAGE_WRITE: "write"}
"""The job's stages the frames bar follows (both count frames), and its label for each."""


class BatchProgress:
    """``rows(report)`` after each row, ``frames(stage, done, total)`` as the current row's job reports; silent when
    ``quiet``. A context manager: the bars close on exit."""

    def __init__(self, total_rows: int, quiet: bool) -> None:
        self.quiet = quiet
        self._rows: Any = None
        self._frames: Any = None
        self._stage: str | None = None
        if not quiet:
            from tqdm import tqdm

            self._tqdm = tqdm
            self._rows = tqdm(total=total_rows, desc="rows", unit="row", file=sys.stderr, dynamic_ncols=True, position=0)

    def row_done(self, report: RowReport) -> None:
        """One more row finished (any status); the frames bar starts again for the next."""
        if self._rows is None:
            return
        self._close_frames()
        self._rows.update(1)
        if report.status == FAILED:
            self._rows.write(f"row {report.row} failed: {report.error}", file=sys.stderr)

    def frames(self, stage: str, done: int, total: int) -> None:
        """The job's ``on_progress``: the current row's frames, aligned then written."""
        if self._rows is None or stage not in FRAME_STAGES:
            return
        if stage != self._stage:
            self._close_frames()
            self._stage = stage
            self._frames = self._tqdm(total=total or None, desc=FRAME_STAGES[stage], unit="frame", file=sys.stderr,
                                      dynamic_ncols=True, position=1, leave=False)
        if total and self._frames.total != total:
            self._frames.total = total
        self._frames.update(done - self._frames.n)

    def _close_frames(self) -> None:
        if self._frames is not None:
            self._frames.close()
        self._frames, self._stage = None, None

    def __enter__(self) -> BatchProgress:
        return self

    def __exit__(self, *exc) -> None:
        self._close_frames()
        if self._rows is not None:
            self._rows.close()
