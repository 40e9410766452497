"""The jobs file of ``batch``: a CSV (header row) or JSON Lines file, one lip-sync per row.

Columns: ``video``, ``audio``, optional ``output`` and optional option columns named like the option table's
options (``version``, ``superres``, ``seed``, ``sr_ratio``, ...) or like their command-line flags without the
dashes (``inference_steps``, ``deepcache``). An empty cell (CSV) or a missing key / null (JSONL) leaves the
command line's value. Relative video and audio paths are relative to the jobs file's folder, a relative
output path is relative to the output folder.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import BadInputError
from ..run.options import JOB, LIPSYNC, LIPSYNC_VIDEO_NODE, OPTIONS, SAMPLER, TABLE, JobOptions, Option

PATH_COLUMNS = ("video", "audio", "output")
"""The columns that are not options."""
ROW_OPTIONS: dict[str, Option] = {
    option.name: option for option in TABLE
    if (option.cli is not None and LIPSYNC in option.cli.commands) or option.target in (JOB, SAMPLER)
}
"""The options a row may set: those of the ``lipsync`` command and of the job, by option name."""
COLUMN_ALIASES: dict[str, str] = {
    option.cli.dest: name for name, option in ROW_OPTIONS.items() if option.cli is not None and option.cli.dest != name
}
"""Command-line names of row options that differ from the option's name (``inference_steps`` -> ``steps``)."""
NODE_ROW_OPTIONS: tuple[str, ...] = tuple(
    name for name, option in ROW_OPTIONS.items()
    if option.target in (JOB, SAMPLER) and option.node is not None and LIPSYNC_VIDEO_NODE in option.node.nodes
)
"""The options a row may set in ComfyUI (the Job List node): the streaming node's job and sampler options. The
others (version, precision, restorers, detector) are the loaders' and the streaming node's own choices there."""
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class JobRow:
    """One row of a jobs file, as written (paths resolved against the jobs file's folder, values not checked).

    Attributes:
        number: the data row's number as the user sees it, 1 for the first row under a CSV header.
        video, audio: the paths of the row (a relative path in the file is relative to the file's folder).
        output: the row's output path as written (relative: under ``--output-dir``; None: named after the video
            and the audio).
        overrides: option name -> value the row sets (a CSV cell is parsed to the option's type).
    """

    number: int
    video: str
    audio: str
    output: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


def column_names() -> list[str]:
    """Every column name a jobs file may have."""
    return [*PATH_COLUMNS, *ROW_OPTIONS, *COLUMN_ALIASES]


def option_name(column: str, path: str) -> str:
    """The option a column sets; :class:`BadInputError` naming the valid columns for an unknown one."""
    name = COLUMN_ALIASES.get(column, column)
    if name not in ROW_OPTIONS:
        raise BadInputError(f"'{path}' has an unknown column '{column}'; the columns are: {', '.join(column_names())}.")
    return name


def parse_value(option: Option, value: Any, where: str) -> Any:
    """``value`` (a CSV cell or a JSON value) as ``option``'s type; :class:`BadInputError` naming ``where``."""
    if option.type is bool and isinstance(value, str):
        if value.strip().lower() not in TRUE + FALSE:
            raise BadInputError(f"{where}: {option.name} must be true or false, got {value!r}.")
        return value.strip().lower() in TRUE
    if option.type is str or isinstance(value, option.type) and not isinstance(value, bool):
        return value if option.type is not str else str(value)
    try:
        if option.type is int and isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return option.type(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        kind = {int: "a whole number", float: "a number", bool: "true or false"}[option.type]
        raise BadInputError(f"{where}: {option.name} must be {kind}, got {value!r}.") from None


def _row(number: int, record: dict[str, Any], path: str) -> JobRow:
    where = f"row {number} of '{path}'"
    folder = os.path.dirname(os.path.abspath(path))
    paths: dict[str, str | None] = {}
    overrides: dict[str, Any] = {}
    for column, value in record.items():
        if column in PATH_COLUMNS:
            path_of = os.path.expanduser(str(value)) if value not in (None, "") else None
            paths[column] = os.path.join(folder, path_of) if path_of and column != "output" else path_of
            continue
        name = option_name(column, path)
        if value is None or value == "":
            continue
        overrides[name] = parse_value(OPTIONS[name], value, where)
    for column in ("video", "audio"):
        if not paths.get(column):
            raise BadInputError(f"{where} has no {column}; give the {column} path of every row.")
    return JobRow(number, paths["video"], paths["audio"], paths.get("output"), overrides)


def read_job_rows(path: str) -> list[JobRow]:
    """The rows of the jobs file ``path`` (``.csv`` or ``.jsonl``).

    Raises:
        BadInputError: the file is missing, unreadable or of another kind, a column is unknown (the message names
            the valid columns), a value is not of its option's type, or a row lacks its video or audio.
    """
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".csv", ".jsonl"):
        raise BadInputError(f"Jobs file '{path}' has extension '{ext}'; give a .csv (with a header row) or .jsonl file.")
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            text = file.read()
    except OSError as exc:
        raise BadInputError(f"Cannot read jobs file '{path}' ({exc.strerror or exc}). Check the path.") from exc
    return _csv_rows(text, path) if ext == ".csv" else _jsonl_rows(text, path)


def _csv_rows(text: str, path: str) -> list[JobRow]:
    reader = csv.DictReader(text.splitlines(), skipinitialspace=True)
    for column in reader.fieldnames or ():
        if column not in PATH_COLUMNS:
            option_name(column.strip(), path)
    rows = []
    for number, record in enumerate(reader, 1):
        if None in record:
            raise BadInputError(f"row {number} of '{path}' has more cells than the header has columns.")
        if any(str(v).strip() for v in record.values()):
            rows.append(_row(number, {k.strip(): (v or "").strip() for k, v in record.items()}, path))
    return rows


def _jsonl_rows(text: str, path: str) -> list[JobRow]:
    rows = []
    number = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        number += 1
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"row {number} of '{path}' is not JSON ({exc.msg}); write one JSON object per line.") from exc
        if not isinstance(record, dict):
            raise BadInputError(f"row {number} of '{path}' is not a JSON object; write one object per line.")
        rows.append(_row(number, record, path))
    return rows


def job_row(path: str, index: int) -> JobRow:
    """Row ``index`` (1 = the first) of the jobs file ``path``.

    Raises:
        BadInputError: as :func:`read_job_rows`, or ``index`` is past the last row.
    """
    rows = read_job_rows(path)
    if not 1 <= index <= len(rows):
        raise BadInputError(f"row {index} is past the end of {path} ({len(rows)} rows); the list is done. Set index "
                            "back to 1 to run it again.")
    return rows[index - 1]


def check_node_overrides(row: JobRow, path: str) -> dict[str, Any]:
    """``row``'s option values, all of them options the streaming node takes per row (:data:`NODE_ROW_OPTIONS`),
    each checked against its range.

    Raises:
        BadInputError: naming a column the node cannot take per row, or a value out of range.
    """
    for name, value in row.overrides.items():
        if name not in NODE_ROW_OPTIONS:
            raise BadInputError(f"row {row.number} of '{path}' sets '{name}', which a row cannot set in ComfyUI (set it "
                                f"on the loader or the node); the option columns there are: {', '.join(NODE_ROW_OPTIONS)}.")
        OPTIONS[name].check(value, f"row {row.number} of '{path}': ")
    return dict(row.overrides)


def with_overrides(options: JobOptions, overrides: Mapping[str, Any]) -> JobOptions:
    """``options`` with the job and sampler option values ``overrides`` (option name -> value) in their place."""
    of = lambda target: {k: v for k, v in overrides.items() if OPTIONS[k].target == target}  # noqa: E731
    return dataclasses.replace(options, sampler=dataclasses.replace(options.sampler, **of(SAMPLER)), **of(JOB))
