"""Face restoration (GFPGAN, CodeFormer) for the lip-synced mouth region.

Networks come from spandrel (CodeFormer from spandrel-extra-arches, non-commercial
licence); this package loads weights safely and calls the networks correctly.
Nothing here imports ComfyUI.
"""
from .face_restorer import CODEFORMER, GFPGAN, FaceRestorer
from .loading import default_dtype, load_face_restorer, restorer_activation_bytes, restorer_from_state_dict
from .selection import frames_needing_restore, restore_selected

__all__ = [
    "CODEFORMER",
    "GFPGAN",
    "FaceRestorer",
    "default_dtype",
    "frames_needing_restore",
    "load_face_restorer",
    "restore_selected",
    "restorer_activation_bytes",
    "restorer_from_state_dict",
]
