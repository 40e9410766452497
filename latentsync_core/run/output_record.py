"""The record beside a finished output, ``<output>.latentsync.json``: what it was made from.

It holds the pack's version, the option values of the run and a fingerprint of each input file and of the
output (size, modification time in ns, and the SHA-256 of the first and last MiB: fast on long videos, and a
file replaced by another of the same size and time is still told apart by its ends). It is written atomically
once the output is complete; a run whose inputs, options and pack version match the record, with the output
still as the record saw it, has nothing to do (``batch`` skips such a row; ``lipsync`` may share it).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from functools import cache
from typing import Any, Mapping

RECORD_SUFFIX = ".latentsync.json"
HEAD_TAIL_BYTES = 1 << 20


def record_path(output: str) -> str:
    """Where the record of ``output`` is kept."""
    return output + RECORD_SUFFIX


@cache
def pack_version() -> str:
    """The pack's version (``pyproject.toml`` beside ``latentsync_core``), ``unknown`` without that file."""
    pyproject = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "pyproject.toml")
    try:
        with open(pyproject, encoding="utf-8") as file:
            found = re.search(r'^version\s*=\s*"([^"]+)"', file.read(), re.MULTILINE)
    except OSError:
        found = None
    return found.group(1) if found else "unknown"


def fingerprint(path: str) -> dict[str, Any]:
    """Size, modification time (ns) and the SHA-256 of the first and last :data:`HEAD_TAIL_BYTES` of ``path``."""
    stat = os.stat(path)
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        digest.update(file.read(HEAD_TAIL_BYTES))
        if stat.st_size > HEAD_TAIL_BYTES:
            file.seek(max(HEAD_TAIL_BYTES, stat.st_size - HEAD_TAIL_BYTES))
            digest.update(file.read())
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256_head_tail": digest.hexdigest()}


def _made_from(inputs: Mapping[str, str], values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "pack_version": pack_version(),
        "inputs": {role: fingerprint(path) for role, path in sorted(inputs.items())},
        "options": {name: values[name] for name in sorted(values)},
    }


def write_record(output: str, inputs: Mapping[str, str], values: Mapping[str, Any]) -> None:
    """Record that ``output`` (complete) was made from the files ``inputs`` (role -> path) with option ``values``."""
    record = {**_made_from(inputs, values), "output": fingerprint(output)}
    path = record_path(output)
    partial = f"{path}.{os.getpid()}.partial"
    try:
        with open(partial, "w", encoding="utf-8") as file:
            json.dump(record, file, indent=1, sort_keys=True)
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise


def is_up_to_date(output: str, inputs: Mapping[str, str], values: Mapping[str, Any]) -> bool:
    """Whether ``output`` exists as its record saw it and the record names these inputs, values and pack version."""
    try:
        with open(record_path(output), encoding="utf-8") as file:
            record = json.load(file)
        if record.get("output") != fingerprint(output):
            return False
        return {k: record.get(k) for k in ("pack_version", "inputs", "options")} == _made_from(inputs, values)
    except (OSError, ValueError):
        return False
