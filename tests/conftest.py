"""Test setup: the repository root is importable; shared fixtures live here."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture(autouse=True, scope="session")
def _landmark_cache_in_tmp(tmp_path_factory):
    """Landmark caches of the command line and the nodes go to a temporary folder, not the user's."""
    from latentsync_core.face.landmark_cache import CACHE_ENV

    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("landmark_cache"))
    yield
    os.environ.pop(CACHE_ENV, None)
