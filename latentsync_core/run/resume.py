"""Resuming a streamed job inside one video: its finished segments in a work folder (:class:`WorkFolder`).

A resumable job writes its output as segments: video-only files in the output's format, each cut where the
job can continue from (a sampler chunk boundary for the lip-sync) and starting on a key frame. A segment
counts once its record (``NNNNNN.json``: the frames' timestamps and the job's state after them, e.g. the
sampler's random state) is written, after its video file was renamed into place, so a run killed at any
moment leaves only whole segments and stray partial files. The work folder's ``manifest.json`` holds the
job's fingerprint (:func:`fingerprint_digest` of the inputs, the options and the pack's version); a run
whose fingerprint differs replaces the folder instead of resuming from it.

Cleanup: the work folder is removed when its output is written; a work folder of another fingerprint is
replaced by the next run on the same output; partial files are removed on resume; and any work folder in
the same folder that no run has written to for :data:`STALE_DAYS` days is removed when a job starts there.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import torch

FORMAT = 1
"""Version of the work folder's layout (a folder of another layout is replaced)."""
STALE_DAYS = 7
"""A work folder untouched for this many days is an abandoned run's: the next job in its folder removes it."""
WORK_SUFFIX = ".work"
MANIFEST = "manifest.json"


def file_digest(path: str) -> str:
    """BLAKE2b of a file's bytes (the content, so a copy of the same video under another name resumes)."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as file:
        while block := file.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def tensor_digest(*tensors: torch.Tensor | np.ndarray) -> str:
    """BLAKE2b of arrays' shapes, dtypes and bytes."""
    digest = hashlib.blake2b(digest_size=16)
    for tensor in tensors:
        tensor = torch.as_tensor(tensor).detach().cpu().contiguous()
        digest.update(f"{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def module_digest(module: Any) -> str:
    """A cheap identity of a network's weights: its class, parameter count and the first and last parameters."""
    params = list(module.parameters()) if isinstance(module, torch.nn.Module) else []
    if not params:
        return type(module).__name__
    count = sum(p.numel() for p in params)
    return f"{type(module).__name__}:{count}:{tensor_digest(params[0].float(), params[-1].float())}"


def fingerprint_digest(fingerprint: dict[str, Any]) -> str:
    """A short hex digest of a job's fingerprint (JSON-able)."""
    text = json.dumps(fingerprint, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_state(state: torch.Tensor) -> str:
    """A generator's state (``torch.Generator.get_state()``) as text for a segment record."""
    return base64.b64encode(state.cpu().numpy().tobytes()).decode("ascii")


def decode_state(text: str) -> torch.Tensor:
    """The generator state :func:`encode_state` wrote."""
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)


@dataclass(frozen=True)
class Segment:
    """A finished segment: its video file, its frames' timestamps and the job's state after it."""

    path: str
    pts: np.ndarray
    state: dict[str, Any]


def _write_json(path: str, value: Any) -> None:
    """``value`` as JSON at ``path``, atomically (a temporary file renamed into place)."""
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".partial", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(value, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _newest_change(folder: str) -> float:
    """The latest modification time of ``folder`` and the files in it."""
    times = [os.path.getmtime(folder)]
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        times += [entry.stat().st_mtime for entry in entries]
    return max(times)


def remove_stale(folder: str, keep: Iterable[str] = (), days: float = STALE_DAYS) -> None:
    """Remove the work folders in ``folder`` (hidden ``*.work`` folders with a manifest; but ``keep``) that no run
    has written to for ``days`` days."""
    limit = time.time() - days * 86400
    keep = {os.path.abspath(k) for k in keep}
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        stale = [e.path for e in entries if e.name.startswith(".") and e.name.endswith(WORK_SUFFIX) and e.is_dir()
                 and os.path.isfile(os.path.join(e.path, MANIFEST)) and os.path.abspath(e.path) not in keep]
    for path in stale:
        with contextlib.suppress(OSError):
            if _newest_change(path) < limit:
                shutil.rmtree(path, ignore_errors=True)


class WorkFolder:
    """The finished segments of one output: the hidden folder ``.<output name>.work`` in ``folder``.

    Args:
        output: the output file.
        fingerprint: the job's fingerprint (JSON-able); the segments of another fingerprint are not used.
        folder: where the work folder goes (default: the output's folder).
    """

    def __init__(self, output: str, fingerprint: dict[str, Any], folder: str | None = None) -> None:
        output = os.path.abspath(output)
        self.folder = os.path.abspath(folder or os.path.dirname(output))
        self.path = os.path.join(self.folder, f".{os.path.basename(output)}{WORK_SUFFIX}")
        self.ext = os.path.splitext(output)[1]
        self.manifest = {"format": FORMAT, "fingerprint": fingerprint}

    def open(self) -> list[Segment]:
        """The finished segments to resume from (empty for a new run), after clearing what is not one of them.

        A folder of another fingerprint (or layout) is replaced; stale work folders beside it are removed.
        """
        os.makedirs(self.folder, exist_ok=True)
        remove_stale(self.folder, keep=[self.path])
        segments: list[Segment] = []
        if self._read(os.path.join(self.path, MANIFEST)) == json.loads(json.dumps(self.manifest, default=str)):
            while (record := self._read(self._record(len(segments)))) is not None:
                video = self.segment_path(len(segments))
                if not os.path.isfile(video):
                    break
                segments.append(Segment(video, np.asarray(record["pts"], np.int64), record["state"]))
        else:
            shutil.rmtree(self.path, ignore_errors=True)
            os.makedirs(self.path)
            _write_json(os.path.join(self.path, MANIFEST), json.loads(json.dumps(self.manifest, default=str)))
        keep = {MANIFEST} | {os.path.basename(p) for i in range(len(segments)) for p in (self.segment_path(i), self._record(i))}
        for entry in os.scandir(self.path):  # partial files of a killed run, its scratch folders, orphan segments
            if entry.name not in keep:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        os.remove(entry.path)
        return segments

    @staticmethod
    def _read(path: str) -> Any:
        try:
            with open(path, encoding="utf-8") as file:
                return json.load(file)
        except (OSError, ValueError):
            return None

    def _record(self, index: int) -> str:
        return os.path.join(self.path, f"{index:06d}.json")

    def segment_path(self, index: int) -> str:
        """Where segment ``index`` (from 0) is written."""
        return os.path.join(self.path, f"{index:06d}{self.ext}")

    def finish(self, index: int, pts: np.ndarray, state: dict[str, Any]) -> Segment:
        """Record segment ``index`` (its file already in place) as finished."""
        _write_json(self._record(index), {"pts": [int(t) for t in pts], "state": state})
        return Segment(self.segment_path(index), np.asarray(pts, np.int64), state)

    def remove(self) -> None:
        """Delete the work folder (the output is written)."""
        shutil.rmtree(self.path, ignore_errors=True)
