"""Every row of a batch checked before a model loads: its files readable, its options valid, its output named."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import BadInputError
from ..media.audio_io import read_audio
from ..media.video_io import check_output_path
from ..run.options import OPTIONS, JobOptions, job_options
from ..run.sources import open_source
from .jobs_file import ROW_OPTIONS, JobRow
from .report import FAILED, RowReport

LOSSLESS_EXT, DEFAULT_EXT = ".mkv", ".mp4"
"""The extension of an output named by the batch: lossless (``crf`` 0) in Matroska, else MP4."""


@dataclass(frozen=True)
class PlannedRow:
    """A checked row, ready to run.

    Attributes:
        row: the row as read.
        video, audio: absolute paths of its inputs.
        output: the absolute path of its output.
        values: option name -> value of every row option: the command line's, overridden by the row.
        options: the job options of ``values``, validated.
    """

    row: JobRow
    video: str
    audio: str
    output: str
    values: dict[str, Any]
    options: JobOptions


def row_values(base_values: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Every row option's value: the table's default, then ``base_values`` (the command line's), then ``overrides``."""
    values = {name: option.default for name, option in ROW_OPTIONS.items()}
    values.update((k, v) for k, v in base_values.items() if k in ROW_OPTIONS)
    values.update(overrides)
    return values


def output_name(video: str, audio: str) -> str:
    """The output name of a row without one: ``<video stem>__<audio stem>`` (one video dubbed into five languages
    gives five files)."""
    stem = lambda path: os.path.splitext(os.path.basename(path))[0]  # noqa: E731
    return f"{stem(video)}__{stem(audio)}"


def default_output(video: str, audio: str, crf: int) -> str:
    """The output file of a row without one: :func:`output_name`, ``.mkv`` when lossless, else ``.mp4``."""
    return output_name(video, audio) + (LOSSLESS_EXT if crf == 0 else DEFAULT_EXT)


def plan_row(row: JobRow, base_values: Mapping[str, Any], output_dir: str) -> PlannedRow:
    """``row`` checked and resolved; :class:`BadInputError` with the usual one-line message when it cannot run."""
    for name, value in row.overrides.items():
        OPTIONS[name].check(value)
    values = row_values(base_values, row.overrides)
    options = job_options(values)
    options.validate()
    video, audio = os.path.abspath(row.video), os.path.abspath(row.audio)
    open_source(video)
    read_audio(audio)
    output = os.path.abspath(os.path.join(output_dir, row.output or default_output(video, audio, options.crf)))
    check_output_path(output, video)
    return PlannedRow(row, video, audio, output, values, options)


def plan_rows(rows: list[JobRow], base_values: Mapping[str, Any], output_dir: str) -> tuple[list[PlannedRow], list[RowReport]]:
    """The rows that can run and a failed report for each that cannot (its one-line message), every row checked.

    Two rows writing the same output: the later one is reported.
    """
    planned: list[PlannedRow] = []
    bad: list[RowReport] = []
    writers: dict[str, int] = {}
    for row in rows:
        start = time.perf_counter()
        try:
            plan = plan_row(row, base_values, output_dir)
            first = writers.setdefault(plan.output, row.number)
            if first != row.number:
                raise BadInputError(f"Output '{plan.output}' is also the output of row {first}; give this row its own "
                                    "output column.")
        except BadInputError as exc:
            bad.append(RowReport(row.number, FAILED, time.perf_counter() - start, error=" ".join(str(exc).split())))
            continue
        planned.append(plan)
    return planned, bad
