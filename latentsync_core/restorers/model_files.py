"""Official face-restoration weight files: canonical names, release URLs, licences."""
from __future__ import annotations

from dataclasses import dataclass

FOLDER_NAME = "facerestore_models"


@dataclass(frozen=True)
class RestorerFile:
    """One downloadable release file (placed in ``models/facerestore_models``)."""

    file_name: str
    url: str
    arch: str
    licence: str


RESTORER_FILES = {
    f.file_name: f
    for f in (
        RestorerFile(
            "GFPGANv1.4.pth",
            "https://github.com/TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.4.pth",
            "GFPGAN",
            "Apache-2.0 (GFPGAN)",
        ),
        RestorerFile(
            "GFPGANv1.3.pth",
            "https://github.com/TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.3.pth",
            "GFPGAN",
            "Apache-2.0 (GFPGAN)",
        ),
        RestorerFile(
            "codeformer.pth",
            "https://github.com/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth",
            "CodeFormer",
            "S-Lab License 1.0 (non-commercial use only)",
        ),
    )
}
