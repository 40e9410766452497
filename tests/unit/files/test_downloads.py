"""ensure_model_file against a local HTTP server on 127.0.0.1 (no internet needed)."""
from __future__ import annotations

import functools
import hashlib
import http.server
import os
import socket
import threading

import pytest

from latentsync_core.files.downloads import ensure_model_file
from latentsync_core.errors import MissingModelError

PAYLOAD = os.urandom(3 * 1024 * 1024 + 17)


@pytest.fixture()
def server(tmp_path):
    """Serves ``tmp_path/served`` over HTTP; yields the base URL."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "model.pth").write_bytes(PAYLOAD)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args, **kwargs: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_present_file_is_returned_without_download(tmp_path):
    (tmp_path / "a.pth").write_bytes(b"x")
    path = ensure_model_file("a.pth", str(tmp_path), "http://127.0.0.1:9/a.pth", download=False)
    assert path == str(tmp_path / "a.pth")


def test_missing_without_download_names_file_folder_url(tmp_path):
    with pytest.raises(MissingModelError) as err:
        ensure_model_file("a.pth", str(tmp_path), "https://example.org/a.pth", download=False)
    message = str(err.value)
    assert "a.pth" in message and str(tmp_path) in message and "https://example.org/a.pth" in message


def test_download_with_checksum(server, tmp_path):
    folder = tmp_path / "models"
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    path = ensure_model_file("model.pth", str(folder), f"{server}/model.pth", download=True, sha256=digest)
    assert path == str(folder / "model.pth")
    assert (folder / "model.pth").read_bytes() == PAYLOAD
    assert sorted(os.listdir(folder)) == ["model.pth"]


def test_downloaded_file_gets_a_new_files_mode_without_touching_the_umask(server, tmp_path, umask_027):
    # mkstemp makes the .part file 0600: renamed as it is, a models folder shared between users reports it damaged
    folder = tmp_path / "models"
    ensure_model_file("model.pth", str(folder), f"{server}/model.pth", download=True)
    assert (folder / "model.pth").stat().st_mode & 0o777 == 0o666 & ~umask_027 == 0o640
    assert sorted(os.listdir(folder)) == ["model.pth"]


def test_checksum_mismatch_is_refused_and_leaves_nothing(server, tmp_path):
    folder = tmp_path / "models"
    with pytest.raises(MissingModelError, match="checksum mismatch"):
        ensure_model_file("model.pth", str(folder), f"{server}/model.pth", download=True, sha256="0" * 64)
    assert os.listdir(folder) == []


def test_http_error_is_missing_model_error(server, tmp_path):
    folder = tmp_path / "models"
    with pytest.raises(MissingModelError, match="404") as err:
        ensure_model_file("other.pth", str(folder), f"{server}/other.pth", download=True)
    assert err.value.url == f"{server}/other.pth"
    assert os.listdir(folder) == []


def test_server_down_is_missing_model_error(tmp_path):
    with socket.socket() as sock:  # a port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = tmp_path / "models"
    url = f"http://127.0.0.1:{port}/model.pth"
    with pytest.raises(MissingModelError, match="download failed") as err:
        ensure_model_file("model.pth", str(folder), url, download=True, timeout=5)
    assert (err.value.file_name, err.value.folder, err.value.url) == ("model.pth", str(folder), url)
    assert os.listdir(folder) == []
