"""nodes/restore.py inside ComfyUI (opt-in: set COMFYUI_PATH to a ComfyUI checkout).

Loads a seeded-random GFPGAN file through the loader node from a temporary
facerestore_models folder and restores one of two mouth crops through the GFPGAN
node; the ROI is a real ``MouthROI`` holding the test face as its crop.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from comfy_nodes import core, node_module, only_model_folders, requires_comfyui
from restorer_weights import GFPGAN_SEED, face_image, load_fixture, max_fixture_diff, seeded_state_dict

pytestmark = requires_comfyui


@pytest.fixture(scope="module")
def restore_nodes():
    return node_module("restore")


def test_schemas_and_official_choices(restore_nodes):
    for node in restore_nodes.NODES:
        schema = node.define_schema()
        assert schema.node_id.startswith("LatentSync_") and schema.category == "LatentSync"
        assert all(inp.tooltip for inp in schema.inputs)
    choices = restore_nodes._model_choices()
    assert {"GFPGANv1.4.pth", "GFPGANv1.3.pth", "codeformer.pth"} <= set(choices)


def test_missing_official_file_without_download(restore_nodes, tmp_path):
    MissingModelError = core("errors").MissingModelError

    with only_model_folders(facerestore_models=tmp_path), pytest.raises(MissingModelError, match="codeformer.pth.*github.com/sczhou/CodeFormer"):
        restore_nodes.LatentSync_FaceRestoreModelLoader.execute("codeformer.pth", False, "fp32")


def test_loader_and_gfpgan_node_restore_selected_frames(restore_nodes, tmp_path):
    from spandrel.architectures.GFPGAN import GFPGAN

    BadInputError = core("errors").BadInputError

    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in GFPGAN().state_dict().items()}
    torch.save({"params_ema": seeded_state_dict(shapes, GFPGAN_SEED)}, tmp_path / "my_gfpgan.pth")
    with only_model_folders(facerestore_models=tmp_path):
        assert "my_gfpgan.pth" in restore_nodes._model_choices()
        model = restore_nodes.LatentSync_FaceRestoreModelLoader.execute("my_gfpgan.pth", False, "fp32").result[0]
    face = face_image().permute(0, 2, 3, 1)
    roi = core("face.mouth_roi").MouthROI(
        crops=torch.cat([face, face]),
        boxes=np.tile([64.0, 96.0, 192.0, 224.0], (2, 1)),
        valid=np.array([True, True]),
        source_size=np.array([200.0, 800.0]),
        resolution=256,
    )
    with pytest.raises(BadInputError, match="runs CodeFormer, but 'my_gfpgan.pth' is GFPGAN"):
        restore_nodes.LatentSync_CodeFormerRestore.execute(model, 0.5, 1.0, 1.0, 2, mouth_roi=roi)
    out_roi, out_faces, report = restore_nodes.LatentSync_GFPGANRestore.execute(
        model, 1.0, 1.0, 2, mouth_roi=roi
    ).result
    assert out_faces is None and report == "GFPGAN: restored 1 of 2 frames"
    assert torch.equal(out_roi.crops[1], roi.crops[1])
    assert max_fixture_diff(out_roi.crops[:1].permute(0, 3, 1, 2), load_fixture("gfpgan")) <= 1e-4
