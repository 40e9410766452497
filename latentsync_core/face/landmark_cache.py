"""On-disk cache of the faces :class:`~.aligner.FaceAligner` keeps per frame.

Landmark detection is the slow part of aligning a video; everything after it
(the template fit, smoothing, warps) is cheap and depends on settings users
change between runs. One cache entry holds what one ``align`` call found
before fitting: per frame the kept face (points, anchors, mouth ring, box,
score) or none, the shot-cut flags, plus the state the next call continues
from (the followed face's appearance, the last frame's cut thumbnail).

The key is a 128-bit xxHash of the format version, the backend (class, its
public settings, library version), the aligner settings that decide which
face is kept (resolution, selection, face index, max gap, following; not
smoothing, which only changes the fit) and the bytes and shapes of every frame the
aligner has seen so far, so a later window of a streamed video is keyed by
everything before it too. A changed frame, video or setting gives a new key;
nothing is ever looked up by file name or date.

Entries are compressed ``.npz`` files named by their key, written to a temporary
file in the same folder and renamed into place, so a reader never sees half an
entry. A file that cannot be read or does not match its key is treated as a
miss and rewritten. The full landmark sets are kept as float32 (the aligner's
landmarks are float32 too, so a replay equals a detection); the anchors, lips
and boxes the transforms come from stay float64. About 4 kB per frame of a
478-point mesh: some 350 MB per hour of 25 fps video.

The folder is capped (``max_bytes``, default :data:`DEFAULT_MAX_BYTES`): after a
write takes it over the cap, the least recently used entries (a hit counts as a
use) are deleted until it is under. The folder can be deleted at any time.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from dataclasses import dataclass, is_dataclass

import numpy as np
import torch
import xxhash

from .landmarks.base import FaceLandmarks, LandmarkBackend

CACHE_ENV = "LATENTSYNC_LANDMARK_CACHE"
CACHE_OFF = "off"
FORMAT_VERSION = 3
DEFAULT_MAX_BYTES = 2 * 1024**3
"""Size cap of the cache folder (2 GiB: about 6 hours of 25 fps video with a 478-point mesh)."""
_ARRAYS = ("points", "anchors", "mouth", "bbox")
_STORED_DTYPES = {"points": np.float32}
_SUFFIX = ".npz"


def default_cache_dir(preferred: str | None = None) -> str:
    """The cache folder: ``$LATENTSYNC_LANDMARK_CACHE`` when set, else ``preferred``, else the platform's.

    ComfyUI passes ``<user directory>/latentsync/landmark_cache`` as ``preferred``. Platform folders: Linux: ``$XDG_CACHE_HOME`` or ``~/.cache``; macOS: ``~/Library/Caches``;
    Windows: ``%LOCALAPPDATA%``; each followed by ``comfyui-latentsync/landmarks``.
    """
    if os.environ.get(CACHE_ENV):
        return os.environ[CACHE_ENV]
    if preferred:
        return preferred
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~\\AppData\\Local")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "comfyui-latentsync", "landmarks")


@dataclass
class TrackRecord:
    """What one ``align`` call found before fitting (one cache entry).

    Attributes:
        faces: per frame the kept face, or ``None``.
        cut_before: ``(N,)`` bool, a shot cut before the frame.
        identity: the followed face's appearance descriptor (``follow_first``), or ``None``.
        last_thumb: ``(16, 16)`` float32 cut thumbnail of the last frame, or ``None``.
    """

    faces: list[FaceLandmarks | None]
    cut_before: np.ndarray
    identity: np.ndarray | None
    last_thumb: np.ndarray | None


class LandmarkCache:
    """A folder of :class:`TrackRecord` entries, at most ``max_bytes`` in all.

    Args:
        folder: where entries live (created on first save); ``None`` = :func:`default_cache_dir`.
        max_bytes: size cap of the folder's entries; least recently used entries go first.
    """

    def __init__(self, folder: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.folder = os.path.abspath(folder or default_cache_dir())
        self.max_bytes = int(max_bytes)
        self._bytes: int | None = None  # the entries' size as last counted, kept up to date by save()

    def path(self, key: str) -> str:
        """The entry file of ``key``."""
        return os.path.join(self.folder, f"{key}{_SUFFIX}")

    def load(self, key: str, n_frames: int) -> TrackRecord | None:
        """The entry of ``key`` for ``n_frames`` frames; ``None`` when absent, unreadable or not matching."""
        path = self.path(key)
        try:
            with np.load(path, allow_pickle=False) as data:
                record = _unpack({name: data[name] for name in data.files}, key, n_frames)
        except Exception:  # noqa: BLE001 - a missing, truncated or foreign file is a miss
            return None
        if record is not None:
            with contextlib.suppress(OSError):  # a hit is a use: the entry goes last in the eviction order
                os.utime(path)
        return record

    def save(self, key: str, record: TrackRecord) -> None:
        """Write the entry of ``key`` atomically (temporary file, then rename), then keep the folder under the cap."""
        os.makedirs(self.folder, exist_ok=True)
        handle, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(handle, "wb") as file:
                np.savez_compressed(file, **_pack(record, key))
            os.replace(tmp, self.path(key))
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
        if self._bytes is None:
            self._bytes = sum(size for _, size, _ in self._entries())
        else:
            self._bytes += os.path.getsize(self.path(key))
        if self._bytes > self.max_bytes:
            self._evict(keep=self.path(key))

    def _entries(self) -> list[tuple[float, int, str]]:
        """``(last use, size, path)`` of every entry in the folder."""
        found = []
        with os.scandir(self.folder) as listing:
            for entry in listing:
                if entry.name.endswith(_SUFFIX) and not entry.name.startswith("."):
                    with contextlib.suppress(OSError):  # removed meanwhile (another process)
                        stat = entry.stat()
                        found.append((stat.st_mtime, stat.st_size, entry.path))
        return found

    def _evict(self, keep: str) -> None:
        """Delete least recently used entries (never ``keep``) until the folder is under the cap."""
        entries = sorted(self._entries())
        self._bytes = sum(size for _, size, _ in entries)
        for _, size, path in entries:
            if self._bytes <= self.max_bytes:
                break
            if path == keep:
                continue
            with contextlib.suppress(OSError):
                os.remove(path)
                self._bytes -= size


def open_cache(folder: str | None, max_bytes: int = DEFAULT_MAX_BYTES) -> LandmarkCache | None:
    """The cache in ``folder`` (``None``: :func:`default_cache_dir`), or ``None`` for ``"off"``."""
    return None if folder == CACHE_OFF else LandmarkCache(folder, max_bytes)


def backend_signature(backend: LandmarkBackend) -> str:
    """Class, library version and public settings of ``backend`` (plain values and dataclasses)."""
    settings = {
        name: value
        for name, value in sorted(vars(backend).items())
        if not name.startswith("_") and (is_dataclass(value) or isinstance(value, (str, int, float, bool, tuple, type(None))))
    }
    version = getattr(backend, "library_version", "")
    return f"{type(backend).__module__}.{type(backend).__qualname__}|{version}|{settings!r}"


class FrameHasher:
    """Running xxHash-128 over settings and then frames; its digest keys one entry."""

    def __init__(self, settings: str) -> None:
        self._state = xxhash.xxh3_128(f"v{FORMAT_VERSION}|{settings}".encode())

    def update(self, frames: torch.Tensor) -> str:
        """Add ``[N, H, W, C]`` frames (bytes and shape); return the key for everything so far."""
        data = frames.detach().cpu().contiguous().numpy()
        self._state.update(f"{data.dtype}{data.shape}".encode())
        self._state.update(memoryview(data).cast("B"))
        return self._state.hexdigest()


def _pack(record: TrackRecord, key: str) -> dict[str, np.ndarray]:
    kept = [face for face in record.faces if face is not None]
    packed = {
        "key": np.array(key),
        "has_face": np.array([face is not None for face in record.faces], dtype=bool),
        "cut_before": np.asarray(record.cut_before, dtype=bool),
        "score": np.array([face.score for face in kept], dtype=np.float64),
        "identity": np.zeros(0) if record.identity is None else record.identity,
        "last_thumb": np.zeros((0, 0), np.float32) if record.last_thumb is None else record.last_thumb,
    }
    for name in _ARRAYS:
        dtype = _STORED_DTYPES.get(name, np.float64)
        packed[name] = np.stack([getattr(face, name) for face in kept]).astype(dtype) if kept else np.zeros((0, 0, 0), dtype)
    return packed


def _unpack(data: dict[str, np.ndarray], key: str, n_frames: int) -> TrackRecord | None:
    has_face = data["has_face"]
    if str(data["key"]) != key or has_face.shape != (n_frames,) or data["cut_before"].shape != (n_frames,):
        return None
    count = int(has_face.sum())
    if any(data[name].shape[0] != count for name in (*_ARRAYS, "score")):
        return None
    kept = iter(
        FaceLandmarks(points=p, anchors=a, mouth=m, bbox=b, score=float(s))
        for p, a, m, b, s in zip(*(data[name] for name in _ARRAYS), data["score"])
    )
    return TrackRecord(
        faces=[next(kept) if has else None for has in has_face],
        cut_before=data["cut_before"],
        identity=data["identity"] if data["identity"].size else None,
        last_thumb=data["last_thumb"] if data["last_thumb"].size else None,
    )

