"""ComfyUI nodes: load GFPGAN / CodeFormer and restore mouth crops or aligned faces.

Thin adapters over :mod:`restorers`; the networks are wrapped in a ComfyUI
``ModelPatcher`` so ComfyUI's memory manager can offload them.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import comfy.model_management
import comfy.model_patcher
import comfy.utils
import folder_paths
import numpy as np
from comfy_api.v0_0_2 import io

from ..latentsync_core.errors import BadInputError
from ..latentsync_core.files.model_files import FACERESTORE_FOLDER, RESTORER_FILES, ModelFileFinder
from ..latentsync_core.restorers import (
    CODEFORMER,
    GFPGAN,
    FaceRestorer,
    frames_needing_restore,
    load_face_restorer,
    restore_selected,
    restorer_activation_bytes,
)
from ..latentsync_core.run.host import AUTO, RESTORER, model_dtype
from ..latentsync_core.run.options import restorer_batch_size
from .host import ComfyHost, load_fully, model_patcher
from .types import CATEGORY, FaceRestoreModel, MouthROI
from .widgets import options_of, widget

log = logging.getLogger(__name__)


_EXTENSIONS = (".pth", ".safetensors")
_PRECISIONS = [AUTO, "fp32", "bf16"]


@dataclass
class PatchedFaceRestorer:
    """The value of a ``LATENTSYNC_FACE_RESTORE_MODEL`` socket."""

    restorer: FaceRestorer
    patcher: comfy.model_patcher.ModelPatcher
    file_name: str


def _model_choices() -> list[str]:
    """Files in the facerestore_models folders, then the official files not yet downloaded."""
    present = [f for f in folder_paths.get_filename_list(FACERESTORE_FOLDER) if f.lower().endswith(_EXTENSIONS)]
    return present + [name for name in RESTORER_FILES if name not in present]


def _model_path(file_name: str, host: ComfyHost) -> str:
    finder = ModelFileFinder(host)
    path = finder.named(FACERESTORE_FOLDER, file_name)
    if path is None:
        raise BadInputError(f"'{file_name}' is not in {host.folder_root(FACERESTORE_FOLDER)}; pick a file that is there, "
                            "or an official one.")
    finder.fetch()
    return path


class LatentSync_FaceRestoreModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LatentSync_FaceRestoreModelLoader",
            display_name="LatentSync Load Face Restore Model",
            category=CATEGORY,
            description="Loads GFPGAN v1.2/1.3/1.4 or CodeFormer (non-commercial licence) weights from "
            "models/facerestore_models.",
            inputs=[
                io.Combo.Input(
                    "model_name",
                    options=_model_choices(),
                    tooltip="Weights file in models/facerestore_models (.pth or .safetensors). "
                    "GFPGANv1.4.pth is the usual choice; codeformer.pth is for non-commercial use only.",
                ),
                io.Boolean.Input(
                    "download",
                    default=True,
                    tooltip="Download an official file (GFPGANv1.4.pth, GFPGANv1.3.pth, codeformer.pth) "
                    "from its GitHub release when it is missing.",
                ),
                io.Combo.Input(
                    "precision",
                    options=_PRECISIONS,
                    default=AUTO,
                    tooltip="auto: bf16 on GPUs that run it natively (RTX 30xx / A100 and newer), fp32 otherwise. "
                    "fp16 is not offered: both networks overflow in it.",
                ),
            ],
            outputs=[FaceRestoreModel.Output(display_name="face_restore_model")],
        )

    @classmethod
    def execute(cls, model_name: str, download: bool, precision: str) -> io.NodeOutput:
        host = ComfyHost(download)
        path = _model_path(model_name, host)
        dtype = model_dtype(host, RESTORER, precision)
        restorer = load_face_restorer(path, device=host.offload_device(RESTORER), dtype=dtype)
        patcher = model_patcher(restorer.net, host, RESTORER)
        log.info("LatentSync: loaded %s (%s, %s)", model_name, restorer.arch, dtype)
        return io.NodeOutput(PatchedFaceRestorer(restorer, patcher, model_name))


class _RestoreNode(io.ComfyNode):
    """Shared execution of the GFPGAN and CodeFormer restore nodes."""

    ARCH = ""

    @classmethod
    def _inputs(cls, extra: list) -> list:
        return [
            FaceRestoreModel.Input(
                "face_restore_model", tooltip=f"A {cls.ARCH} model from LatentSync Load Face Restore Model."
            ),
            MouthROI.Input(
                "mouth_roi",
                optional=True,
                tooltip="Mouth crops from the LatentSync mouth-ROI node. Give this or aligned_faces.",
            ),
            io.Image.Input(
                "aligned_faces",
                optional=True,
                tooltip="Whole aligned faces (IMAGE batch); all are restored. Give this or mouth_roi.",
            ),
            *extra,
            widget("strength"),
            widget("sr_ratio"),
            widget("batch_size"),
        ]

    @classmethod
    def _outputs(cls) -> list:
        return [
            MouthROI.Output(display_name="mouth_roi"),
            io.Image.Output(display_name="aligned_faces"),
            io.String.Output(display_name="report"),
        ]

    @classmethod
    def _run(cls, face_restore_model: PatchedFaceRestorer, mouth_roi, aligned_faces, fidelity: float,
             strength: float, sr_ratio: float, batch_size: int) -> io.NodeOutput:
        restorer = face_restore_model.restorer
        if restorer.arch != cls.ARCH:
            raise BadInputError(
                f"This node runs {cls.ARCH}, but '{face_restore_model.file_name}' is {restorer.arch}; "
                f"use the {restorer.arch} restore node."
            )
        if (mouth_roi is None) == (aligned_faces is None):
            raise BadInputError("Connect exactly one of mouth_roi and aligned_faces.")
        if mouth_roi is not None:
            crops = mouth_roi.crops
            mask = frames_needing_restore(mouth_roi.source_size, crops.shape[1], sr_ratio, mouth_roi.valid)
        else:
            crops = aligned_faces
            mask = np.ones(crops.shape[0], dtype=bool)
        dtype = next(restorer.net.parameters()).dtype
        batch_size = restorer_batch_size(options_of(batch_size=batch_size).batch_size, face_restore_model.patcher.load_device)
        load_fully([face_restore_model.patcher], restorer_activation_bytes(restorer.arch, batch_size, dtype, restorer.size))
        total = int(mask.sum())
        progress = comfy.utils.ProgressBar(total)
        restored = restore_selected(
            crops,
            mask,
            functools.partial(restorer.restore, fidelity=fidelity),
            batch_size=batch_size,
            strength=strength,
            before_batch=comfy.model_management.throw_exception_if_processing_interrupted,
            after_batch=progress.update,
        )
        report = f"{cls.ARCH}: restored {total} of {len(mask)} frames"
        log.info("LatentSync: %s", report)
        if mouth_roi is not None:
            return io.NodeOutput(mouth_roi.replace_crops(restored), None, report)
        return io.NodeOutput(None, restored, report)


class LatentSync_GFPGANRestore(_RestoreNode):
    ARCH = GFPGAN

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LatentSync_GFPGANRestore",
            display_name="LatentSync GFPGAN Restore",
            category=CATEGORY,
            description="Restores 512x512 mouth crops (or aligned faces) with GFPGAN; deterministic.",
            inputs=cls._inputs([]),
            outputs=cls._outputs(),
        )

    @classmethod
    def execute(cls, face_restore_model, strength, sr_ratio, batch_size, mouth_roi=None,
                aligned_faces=None) -> io.NodeOutput:
        return cls._run(face_restore_model, mouth_roi, aligned_faces, 0.5, strength, sr_ratio, batch_size)


class LatentSync_CodeFormerRestore(_RestoreNode):
    ARCH = CODEFORMER

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LatentSync_CodeFormerRestore",
            display_name="LatentSync CodeFormer Restore",
            category=CATEGORY,
            description="Restores 512x512 mouth crops (or aligned faces) with CodeFormer "
            "(S-Lab licence: non-commercial use only).",
            inputs=cls._inputs([widget("fidelity")]),
            outputs=cls._outputs(),
        )

    @classmethod
    def execute(cls, face_restore_model, fidelity, strength, sr_ratio, batch_size, mouth_roi=None,
                aligned_faces=None) -> io.NodeOutput:
        return cls._run(face_restore_model, mouth_roi, aligned_faces, fidelity, strength, sr_ratio, batch_size)


NODES = [LatentSync_FaceRestoreModelLoader, LatentSync_GFPGANRestore, LatentSync_CodeFormerRestore]
