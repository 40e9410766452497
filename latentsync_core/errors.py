"""Errors with one-line messages that name the problem and the fix."""
from __future__ import annotations


class LatentSyncError(Exception):
    """Base class: an expected failure whose message is meant for the user."""


class BadInputError(LatentSyncError, ValueError):
    """The input (frames, audio, alignment, file) cannot be processed as given."""


class MissingModelError(LatentSyncError, FileNotFoundError):
    """A model file is not on disk and could not be downloaded."""

    def __init__(self, file_name: str, folder: str, url: str, reason: str = "") -> None:
        self.file_name = file_name
        self.folder = folder
        self.url = url
        detail = f" ({reason})" if reason else ""
        super().__init__(
            f"Model file '{file_name}' not found in '{folder}'{detail}. "
            f"Download it from {url} and place it in that folder."
        )


class MissingDependencyError(LatentSyncError, ImportError):
    """An optional Python package needed by one node is not installed."""

    def __init__(self, package: str, purpose: str, install: str | None = None) -> None:
        self.package = package
        cmd = install or f"pip install {package}"
        super().__init__(f"{purpose} needs the Python package '{package}', which is not installed. Run: {cmd}")
