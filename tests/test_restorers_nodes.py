"""nodes/restore.py inside ComfyUI (opt-in: set COMFYUI_PATH to a ComfyUI checkout).

Loads a seeded-random GFPGAN file through the loader node from a temporary
facerestore_models folder and restores one of two mouth crops through the GFPGAN
node; the ROI object is a minimal stand-in with the LATENTSYNC_MOUTH_ROI contract
(crops, valid, source_size, replace_crops).
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys

import numpy as np
import pytest
import torch

from test_restorers_common import GFPGAN_SEED, face_image, load_fixture, max_fixture_diff, seeded_state_dict

COMFYUI_PATH = os.environ.get("COMFYUI_PATH")
pytestmark = [
    pytest.mark.comfyui,
    pytest.mark.skipif(not COMFYUI_PATH, reason="set COMFYUI_PATH to run the ComfyUI node tests"),
]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass
class _MouthROI:
    crops: torch.Tensor
    valid: np.ndarray
    source_size: np.ndarray

    def replace_crops(self, new_crops: torch.Tensor) -> "_MouthROI":
        return dataclasses.replace(self, crops=new_crops)


@pytest.fixture(scope="module")
def restore_nodes():
    if COMFYUI_PATH not in sys.path:
        sys.path.append(COMFYUI_PATH)
    import comfy.cli_args

    if not torch.cuda.is_available():
        comfy.cli_args.args.cpu = True
    # Loaded by path: ComfyUI has its own top-level module called "nodes".
    spec = importlib.util.spec_from_file_location("latentsync_nodes_restore", os.path.join(REPO, "nodes", "restore.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_schemas_and_official_choices(restore_nodes):
    for node in restore_nodes.NODES:
        schema = node.define_schema()
        assert schema.node_id.startswith("LatentSync_") and schema.category == "LatentSync"
        assert all(inp.tooltip for inp in schema.inputs)
    choices = restore_nodes._model_choices()
    assert {"GFPGANv1.4.pth", "GFPGANv1.3.pth", "codeformer.pth"} <= set(choices)


def test_missing_official_file_without_download(restore_nodes, tmp_path):
    import folder_paths

    from latentsync_core.errors import MissingModelError

    folder_paths.add_model_folder_path("facerestore_models", str(tmp_path), is_default=True)
    with pytest.raises(MissingModelError, match="codeformer.pth.*github.com/sczhou/CodeFormer"):
        restore_nodes.LatentSync_FaceRestoreModelLoader.execute("codeformer.pth", False, "fp32")


def test_loader_and_gfpgan_node_restore_selected_frames(restore_nodes, tmp_path):
    import folder_paths
    from spandrel.architectures.GFPGAN import GFPGAN

    from latentsync_core.errors import BadInputError

    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in GFPGAN().state_dict().items()}
    torch.save({"params_ema": seeded_state_dict(shapes, GFPGAN_SEED)}, tmp_path / "my_gfpgan.pth")
    folder_paths.add_model_folder_path("facerestore_models", str(tmp_path), is_default=True)
    folder_paths.filename_list_cache.pop("facerestore_models", None)
    assert "my_gfpgan.pth" in restore_nodes._model_choices()

    model = restore_nodes.LatentSync_FaceRestoreModelLoader.execute("my_gfpgan.pth", False, "fp32").result[0]
    face = face_image().permute(0, 2, 3, 1)
    roi = _MouthROI(torch.cat([face, face]), np.array([True, True]), np.array([200.0, 800.0]))
    with pytest.raises(BadInputError, match="runs CodeFormer, but 'my_gfpgan.pth' is GFPGAN"):
        restore_nodes.LatentSync_CodeFormerRestore.execute(model, 0.5, 1.0, 1.0, 2, mouth_roi=roi)
    out_roi, out_faces, report = restore_nodes.LatentSync_GFPGANRestore.execute(
        model, 1.0, 1.0, 2, mouth_roi=roi
    ).result
    assert out_faces is None and report == "GFPGAN: restored 1 of 2 frames"
    assert torch.equal(out_roi.crops[1], roi.crops[1])
    assert max_fixture_diff(out_roi.crops[:1].permute(0, 3, 1, 2), load_fixture("gfpgan")) <= 1e-4
