"""Fetch a model file into its folder, or say exactly where to get it.

Downloads go to a temporary file in the target folder and are renamed into
place only when complete (and, when a sha256 is given, verified), so an
interrupted or corrupt download never leaves a file that looks valid.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request

from tqdm import tqdm

from ..errors import MissingModelError
from .permissions import give_new_file_mode

_CHUNK = 1 << 20
OFFLINE_ENV = "HF_HUB_OFFLINE"
_TRUE = ("1", "ON", "YES", "TRUE")


def offline_mode() -> bool:
    """Whether ``HF_HUB_OFFLINE`` asks for no network at all (read on every call, as huggingface_hub reads it)."""
    return os.environ.get(OFFLINE_ENV, "").strip().upper() in _TRUE


def download_file(url: str, path: str, sha256: str | None = None, timeout: float = 30.0) -> None:
    """Stream ``url`` to ``path`` with a progress bar, atomically.

    The bytes go to a hidden ``.part`` file next to ``path`` that is renamed onto it
    only when complete and, when ``sha256`` is given, matching; otherwise it is deleted.

    Raises:
        OSError: the folder cannot be written, the download failed or was cut short
            (urllib's errors are ``OSError``\\ s), or the checksum does not match.
    """
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".part", dir=folder)
    try:
        digest = _download(url, fd, os.path.basename(path), timeout)
        if sha256 is not None and digest != sha256.lower():
            raise OSError(f"checksum mismatch: expected sha256 {sha256.lower()}, got {digest}; the download was deleted")
        give_new_file_mode(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)


def ensure_model_file(
    file_name: str,
    folder: str,
    url: str,
    download: bool,
    sha256: str | None = None,
    timeout: float = 30.0,
) -> str:
    """Path of ``folder/file_name``, downloading it from ``url`` first if allowed and missing.

    Args:
        file_name: canonical file name, e.g. ``"GFPGANv1.4.pth"``.
        folder: directory that holds the file (created when downloading).
        url: public release URL of the file.
        download: fetch the file when it is missing; otherwise fail with where to get it.
        sha256: expected hex digest; a mismatching download is deleted and refused.
        timeout: socket timeout in seconds.

    Raises:
        MissingModelError: the file is missing and was not (or could not be) downloaded;
            the message names the file, the folder and the URL.
    """
    path = os.path.join(folder, file_name)
    if os.path.isfile(path):
        return path
    if not download:
        raise MissingModelError(file_name, folder, url, "automatic download is off")
    if offline_mode():
        raise MissingModelError(file_name, folder, url, f"offline mode is on ({OFFLINE_ENV} is set)")
    try:
        download_file(url, path, sha256, timeout)
    except OSError as exc:  # urllib's URLError/HTTPError, socket timeouts and checksum mismatches
        reason = str(exc) if str(exc).startswith("checksum mismatch") else f"download failed: {exc}"
        raise MissingModelError(file_name, folder, url, reason) from exc
    return path


def _download(url: str, fd: int, label: str, timeout: float) -> str:
    """Stream ``url`` into the open file ``fd`` (closed on return) with a progress bar; sha256 hex."""
    hasher = hashlib.sha256()
    with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                hasher.update(chunk)
                bar.update(len(chunk))
        if total is not None and bar.n != total:
            raise OSError(f"connection closed after {bar.n} of {total} bytes")
    return hasher.hexdigest()
