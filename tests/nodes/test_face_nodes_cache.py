"""Face Align node and the landmark cache inside ComfyUI (opt-in: set COMFYUI_PATH to a ComfyUI checkout).

The cache lives in ComfyUI's user directory (``user/latentsync/landmark_cache``),
not in its temp folder; a second run over the same frames detects nothing.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from comfy_nodes import core, node_module, requires_comfyui
from clips import astronaut

pytestmark = requires_comfyui


def test_face_align_node_replays_landmarks_from_the_user_folder(tmp_path, monkeypatch):
    face = node_module("face")  # puts ComfyUI on sys.path
    import folder_paths

    cache_core = core("face.landmark_cache")
    monkeypatch.delenv(cache_core.CACHE_ENV, raising=False)
    monkeypatch.setattr(folder_paths, "user_directory", str(tmp_path / "user"))
    backend_class = core("face.landmarks.mediapipe_backend").MediaPipeBackend
    calls = []
    for method in ("detect", "follow"):
        real = getattr(backend_class, method)
        monkeypatch.setattr(backend_class, method, lambda self, *args, real=real: calls.append(1) or real(self, *args))
    frames = torch.from_numpy(np.stack([astronaut()] * 3)).float() / 255.0
    options = dict(resolution="256", backend="mediapipe", face_selection="largest", face_index=0, smoothing=0.2, max_gap=4, download_models=False)

    first = face.FaceAlignAffine.execute(frames, **options)
    folder = tmp_path / "user" / "latentsync" / "landmark_cache"
    assert len(calls) == 3 and len(list(folder.iterdir())) == 1
    second = face.FaceAlignAffine.execute(frames, **options)
    assert len(calls) == 3
    assert torch.equal(first.result[0], second.result[0])
    np.testing.assert_array_equal(first.result[1].affines, second.result[1].affines)
    face.FaceAlignAffine.execute(frames, **options, landmark_cache=False)
    assert len(calls) == 6 and len(list(folder.iterdir())) == 1
