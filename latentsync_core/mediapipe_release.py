"""Which mediapipe release the pack installs for a Python version (read by ``install.py`` and error messages).

mediapipe 0.10.21 is the last release with ``mp.solutions`` and bundled face-mesh
models; its wheels stop at CPython 3.12. Later releases are ``py3-none`` wheels for
every Python and only have the Tasks API (``FaceLandmarker`` + ``face_landmarker.task``).
Both are installed with ``--no-deps``: 0.10.21's metadata pins ``numpy<2`` and pulls
jax, 1.x pulls ``opencv-contrib-python`` (which clashes with the headless OpenCV);
the packages either needs at run time are in requirements.txt.
"""
from __future__ import annotations

import sys

SOLUTIONS_RELEASE = "mediapipe==0.10.21"
TASKS_RELEASE = "mediapipe==1.2.2"
LAST_SOLUTIONS_PYTHON = (3, 12)


def mediapipe_requirement(version: tuple[int, int] | None = None) -> str:
    """The pip requirement for CPython ``version`` (default: the running one)."""
    version = version or sys.version_info[:2]
    return SOLUTIONS_RELEASE if tuple(version) <= LAST_SOLUTIONS_PYTHON else TASKS_RELEASE


def mediapipe_install_command(version: tuple[int, int] | None = None) -> str:
    """The command that installs the right mediapipe for ``version`` (default: the running Python)."""
    return f"pip install --no-deps {mediapipe_requirement(version)}"
