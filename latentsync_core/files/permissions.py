"""The permissions a new file gets, read without changing the process's umask.

Files written through a temporary file (``tempfile.mkstemp`` makes them ``0600``) and renamed
into place get the mode a plain ``open()`` would have given them, so a models folder or an
output folder shared between users stays readable. ``os.umask`` can only be read by setting
it, which changes it for every thread of the process for a moment (ComfyUI's server thread
could create a world-writable file then); this module never calls it.
"""
from __future__ import annotations

import os
import uuid


def new_file_mode(folder: str) -> int:
    """The mode ``open(path, "w")`` gives a new file in ``folder`` (0o666 less the umask), e.g. ``0o644``."""
    probe = os.path.join(folder, f".mode-{uuid.uuid4().hex}")
    fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    try:
        return os.fstat(fd).st_mode & 0o777
    finally:
        os.close(fd)
        os.remove(probe)


def give_new_file_mode(path: str, replaces: str | None = None) -> None:
    """Give ``path`` (a finished temporary file) the mode of the file it ``replaces``, else a new file's mode."""
    if replaces is not None and os.path.exists(replaces):
        mode = os.stat(replaces).st_mode & 0o777
    else:
        mode = new_file_mode(os.path.dirname(os.path.abspath(path)))
    os.chmod(path, mode)
