"""The official face-restoration files, by name: entries of the one model-file table.

The table itself (release URLs, published sha256, licences) is
:data:`latentsync_core.files.model_files.OFFICIAL_FILES`; this module only picks its
GFPGAN / CodeFormer rows, newest release first.
"""
from __future__ import annotations

from ..files.model_files import CODEFORMER, FACERESTORE_FOLDER, GFPGAN, OFFICIAL_FILES, ModelFile

FOLDER_NAME = FACERESTORE_FOLDER

RESTORER_FILES: dict[str, ModelFile] = {e.file_name: e for e in OFFICIAL_FILES if e.role in (GFPGAN, CODEFORMER)}
"""File name -> table entry (``.url``, ``.sha256``, ``.role`` is the architecture)."""
