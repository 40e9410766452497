"""Keep MediaPipe's native log lines out of a normal run (all of them back with ``LATENTSYNC_DEBUG=1``).

MediaPipe's C++ side (absl / glog, TF Lite) writes informational and warning
lines straight to file descriptor 2 when it builds and first runs a graph, and
mediapipe 0.10.21's native module prints ``AttributeError: 'MessageFactory' object
has no attribute 'GetPrototype'`` on import with protobuf >= 5 (a lookup it does not
need; face mesh works). A user reads either as a crash. :func:`quiet_native_logs`
captures descriptor 2 and ``sys.stderr`` around a MediaPipe call and writes back every
line except those, so errors and other threads' output are still shown (a few
milliseconds later).
"""
from __future__ import annotations

import io
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

DEBUG_ENV = "LATENTSYNC_DEBUG"

_NOISE = re.compile(
    r"[IW]\d{4} "  # absl / glog info and warning lines (errors, E and F, are kept)
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|WARNING: Logging before InitGoogle\(\)"
    r"|INFO: (?:Created TensorFlow Lite|Initialized TensorFlow Lite)"
    r"|AttributeError: 'MessageFactory' object has no attribute 'GetPrototype'"
)
_lock = threading.RLock()


def debug_logging() -> bool:
    """Whether ``LATENTSYNC_DEBUG`` asks for every library log line."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def drop_noise(text: str) -> str:
    """``text`` without MediaPipe's routine native log lines."""
    return "".join(line for line in text.splitlines(keepends=True) if not _NOISE.match(line))


@contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Filter MediaPipe's routine log lines out of descriptor 2 and ``sys.stderr`` for the block."""
    if debug_logging():
        yield
        return
    with _lock:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):  # no descriptor 2 (pythonw) or no sys.stderr
            yield
            return
        python_err, capture = sys.stderr, tempfile.TemporaryFile()
        os.dup2(capture.fileno(), 2)
        sys.stderr = io.StringIO()
        try:
            yield
        finally:
            captured = sys.stderr.getvalue()
            sys.stderr = python_err
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            native = capture.read().decode("utf-8", errors="replace")
            capture.close()
            kept = drop_noise(native + captured)
            if kept:
                python_err.write(kept)
                python_err.flush()
