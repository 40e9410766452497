"""Model folders the pack adds to ComfyUI (never overwriting user-configured paths)."""
import os

import folder_paths

from ..latentsync_core.face.landmark_cache import default_cache_dir

LATENTSYNC_FOLDER = "latentsync"
MODEL_FOLDERS = (LATENTSYNC_FOLDER, "facerestore_models", "insightface", "mediapipe", "syncnet")
"""``facerestore_models`` is the folder facerestore_cf and ReActor users already have."""


def register_model_folders() -> None:
    """Add ``models/<name>`` for each of the pack's folders, keeping existing entries."""
    for name in MODEL_FOLDERS:
        folder_paths.add_model_folder_path(name, os.path.join(folder_paths.models_dir, name))


def insightface_dir() -> str:
    """Folder of InsightFace's buffalo_l pack (``models/insightface/models/buffalo_l``)."""
    return os.path.join(folder_paths.get_folder_paths("insightface")[0], "models", "buffalo_l")


def mediapipe_dir() -> str:
    """Folder of MediaPipe's ``face_landmarker.task`` (``models/mediapipe``; Tasks releases of mediapipe only)."""
    return folder_paths.get_folder_paths("mediapipe")[0]


def landmark_cache_dir() -> str:
    """``<ComfyUI user directory>/latentsync/landmark_cache``, or ``$LATENTSYNC_LANDMARK_CACHE`` when set."""
    return default_cache_dir(os.path.join(folder_paths.get_user_directory(), "latentsync", "landmark_cache"))
