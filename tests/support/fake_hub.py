"""A local stand-in for the Hugging Face Hub, and the files a test finds under a folder."""
from __future__ import annotations

import hashlib
import http.server
import os


def files_under(path) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path) for f in fs)


class FakeHub(http.server.BaseHTTPRequestHandler):
    """Answers ``/<repo>/resolve/main/<path>`` like the Hub: HEAD with metadata, GET with bytes."""

    files: dict[str, bytes] = {}

    def _headers(self) -> bytes | None:
        body = self.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        self.send_response(200)
        self.send_header("X-Repo-Commit", "0123456789abcdef0123456789abcdef01234567")
        self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return body

    def do_HEAD(self):
        self._headers()

    def do_GET(self):
        body = self._headers()
        if body is not None:
            self.wfile.write(body)

    def log_message(self, *args):
        pass
