"""Arrays that grow with a video's length, kept in temporary files instead of RAM.

A :class:`ScratchFolder` is a temporary folder of :class:`RowFile`\\ s: float32 rows of one
shape, appended in order and read back by ranges. Reads and writes are plain file I/O, not a
memory map, so the rows never count in the process's resident memory (the operating system
may keep them in its page cache, which it gives back when it needs the room). The folder is
removed by :meth:`ScratchFolder.close`, and, should that never run, when the folder object is
collected or the interpreter exits.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from typing import BinaryIO

import numpy as np
import torch

from ..errors import BadInputError

_ZERO_BLOCK = 1 << 20  # values per write when a file is extended with zeros


class RowFile:
    """float32 rows shaped ``row_shape`` in the file ``path`` (created empty).

    ``shape`` is ``(rows, *row_shape)``; :meth:`append` adds rows at the end, :meth:`read`
    gives a range as a tensor, :meth:`rows` the rows at any indices.
    """

    def __init__(self, path: str, row_shape: tuple[int, ...]) -> None:
        self.path = path
        self.row_shape = tuple(int(s) for s in row_shape)
        self._row_values = int(np.prod(self.row_shape, dtype=np.int64))
        self._file: BinaryIO = open(path, "w+b")
        self._rows = 0

    @property
    def shape(self) -> tuple[int, ...]:
        return (self._rows, *self.row_shape)

    def __len__(self) -> int:
        return self._rows

    def append(self, rows: torch.Tensor | np.ndarray) -> None:
        """Add ``rows`` ``[k, *row_shape]`` (any float dtype; stored as float32) at the end."""
        array = np.ascontiguousarray(rows.detach().cpu().numpy() if torch.is_tensor(rows) else rows, dtype=np.float32)
        if array.shape[1:] != self.row_shape:
            raise ValueError(f"rows shaped {array.shape[1:]} appended to a file of rows shaped {self.row_shape}")
        try:
            self._file.seek(self._rows * self._row_values * 4)
            self._file.write(array.tobytes())
        except OSError as exc:
            folder = os.path.dirname(self.path)
            raise BadInputError(
                f"Cannot write temporary audio data in '{folder}' ({exc}); free some disk space there."
            ) from exc
        self._rows += array.shape[0]

    def resize(self, rows: int) -> None:
        """Cut the file to ``rows`` rows or extend it with rows of zeros."""
        if rows <= self._rows:
            self._rows = rows
            self._file.truncate(rows * self._row_values * 4)
            return
        missing = (rows - self._rows) * self._row_values
        per_row = max(1, self._row_values)
        while missing > 0:
            k = min(missing, max(per_row, _ZERO_BLOCK // per_row * per_row))
            self.append(np.zeros((k // per_row, *self.row_shape), dtype=np.float32))
            missing -= k

    def read(self, start: int, stop: int) -> torch.Tensor:
        """Rows ``[start, stop)`` as a float32 tensor ``[stop - start, *row_shape]``."""
        if not 0 <= start <= stop <= self._rows:
            raise IndexError(f"rows {start}:{stop} of a file of {self._rows}")
        self._file.seek(start * self._row_values * 4)
        data = self._file.read((stop - start) * self._row_values * 4)
        array = np.frombuffer(bytearray(data), dtype=np.float32)
        return torch.from_numpy(array.reshape(stop - start, *self.row_shape))

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """The rows at ``index`` (any shape of int64 indices): ``[*index.shape, *row_shape]``, read as one range."""
        first = int(index.min())
        return self.read(first, int(index.max()) + 1)[index - first]

    def close(self) -> None:
        self._file.close()

    def remove(self) -> None:
        """Close and delete the file (its rows are no longer needed)."""
        self.close()
        if os.path.exists(self.path):
            os.remove(self.path)


def _remove(path: str, files: list[RowFile]) -> None:
    for f in files:
        f.close()
    shutil.rmtree(path, ignore_errors=True)


class ScratchFolder:
    """A hidden temporary folder made inside ``parent`` (None: the system's temporary folder) for
    :class:`RowFile`\\ s."""

    def __init__(self, parent: str | os.PathLike | None = None) -> None:
        try:
            self.path = tempfile.mkdtemp(prefix=".latentsync-", dir=parent)
        except OSError as exc:
            raise BadInputError(
                f"Cannot create a temporary folder in '{parent or tempfile.gettempdir()}' ({exc}); "
                "choose an output folder you can write to."
            ) from exc
        self._files: list[RowFile] = []
        self._finalizer = weakref.finalize(self, _remove, self.path, self._files)

    def file(self, name: str, row_shape: tuple[int, ...]) -> RowFile:
        """A new, empty :class:`RowFile` ``name`` in the folder."""
        rows = RowFile(os.path.join(self.path, name), row_shape)
        self._files.append(rows)
        return rows

    def close(self) -> None:
        """Close the files and remove the folder (again: nothing)."""
        self._finalizer()
