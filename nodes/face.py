"""Face-path nodes: align to the LatentSync template, cut the mouth ROI, paste back."""
from __future__ import annotations

import contextlib

import torch
from comfy_api.v0_0_2 import io

import comfy.model_management
import comfy.utils
from ..latentsync_core.face.aligner import FaceAligner
from ..latentsync_core.face.frames import as_rgb_frames, to_uint8
from ..latentsync_core.face.human_gate import HumanFaceGate
from ..latentsync_core.face.mouth_roi import crop_mouth
from ..latentsync_core.face.paste import paste_back
from ..latentsync_core.face.reference_face import ReferenceFace
from ..latentsync_core.run.host import landmark_backend
from ..latentsync_core.run.options import NODE_OPTIONS, OPTIONS
from .host import ComfyHost, open_landmark_cache
from .types import CATEGORY, Alignment, MouthROI
from .widgets import widget




class FaceAlignAffine(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LatentSync_FaceAlignAffine",
            display_name="Face Align (LatentSync template)",
            category=CATEGORY,
            description="Finds the face in every frame and warps it onto the LatentSync face template. "
            "Frames without a face are flagged and pass through the later nodes unchanged.",
            inputs=[
                io.Image.Input("images", tooltip="Video frames [N,H,W,C]; gray and RGBA are accepted."),
                widget("resolution"),
                widget("backend"),
                widget("face_selection"),
                widget("face_index"),
                widget("smoothing"),
                widget("max_gap"),
                io.Boolean.Input("download_models", default=False, tooltip="insightface only: download buffalo_l into models/insightface when missing."),
                widget("landmark_cache"),
                widget("landmark_cache_max"),
                widget("allow_stylised"),
                io.Image.Input("reference", optional=True,
                               tooltip="A picture of the person to follow (e.g. a frame grab): wherever a face is found "
                               "anew, the one recognised as this person is taken, instead of by face_selection; frames "
                               "without them get no face."),
            ],
            outputs=[
                io.Image.Output("aligned_faces", display_name="aligned_faces", tooltip="Aligned faces [N,res,res,3]; gray where no face was found."),
                Alignment.Output("alignment", display_name="alignment", tooltip="Per-frame transform, face flag and landmarks for the later nodes."),
                io.Mask.Output("face_mask", display_name="face_mask", tooltip="[N,res,res]: 1 for frames with a face, 0 for frames without."),
            ],
        )

    @classmethod
    def execute(cls, images, resolution, backend, face_selection, face_index, smoothing, max_gap, download_models,
                landmark_cache=True, landmark_cache_max=OPTIONS["landmark_cache_max"].default,
                allow_stylised=False, reference=None) -> io.NodeOutput:
        landmarks = landmark_backend(ComfyHost(), backend, download_models)
        chooser = None
        if reference is not None:
            chooser = ReferenceFace(to_uint8(as_rgb_frames(reference, "reference")[0]), landmarks)
        aligner = FaceAligner(
            landmarks,
            resolution=NODE_OPTIONS["resolution"].from_widget(resolution),
            selection=face_selection,
            face_index=face_index,
            smoothing=smoothing,
            max_gap=max_gap,
            cache=open_landmark_cache(landmark_cache, landmark_cache_max),
            human_gate=HumanFaceGate(allow_stylised=allow_stylised),
            reference=chooser,
        )
        bar = comfy.utils.ProgressBar(images.shape[0])

        def on_frame(_: int) -> None:
            comfy.model_management.throw_exception_if_processing_interrupted()
            bar.update(1)

        with contextlib.closing(landmarks):
            aligned, alignment = aligner.align(images, on_frame=on_frame)
        res = alignment.resolution
        mask = torch.from_numpy(alignment.has_face).float()[:, None, None].expand(-1, res, res).contiguous()
        return io.NodeOutput(aligned, alignment, mask)


class MouthROICrop(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LatentSync_MouthROICrop",
            display_name="Mouth ROI Crop",
            category=CATEGORY,
            description="Cuts a square around the lips of each aligned face, at the size the face restorers work at, "
            "and records how many source pixels it covers.",
            inputs=[
                io.Image.Input("aligned_faces", tooltip="Aligned faces from Face Align (or from the LatentSync sampler)."),
                Alignment.Input("alignment", tooltip="The alignment those faces were made with."),
                widget("target_size"),
                widget("margin"),
            ],
            outputs=[
                MouthROI.Output("mouth_roi", display_name="mouth_roi", tooltip="Crops plus their boxes and source-pixel sizes, for the restorers and the paste node."),
                io.Image.Output("roi_images", display_name="roi_images", tooltip="The crops as images [N,S,S,3], for preview or other nodes."),
            ],
        )

    @classmethod
    def execute(cls, aligned_faces, alignment, target_size, margin) -> io.NodeOutput:
        roi = crop_mouth(aligned_faces, alignment, target_size=target_size, margin=margin)
        return io.NodeOutput(roi, roi.crops)


class ROIPasteBlend(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="LatentSync_ROIPasteBlend",
            display_name="ROI Paste & Blend",
            category=CATEGORY,
            description="Blends a (restored) mouth ROI into the aligned faces, then warps the faces back into the original "
            "frames, only where they changed, with feathered edges. Frames without a face come back unchanged.",
            inputs=[
                io.Image.Input("images", tooltip="The original video frames the alignment was made on, or those frames upscaled (faces are then pasted at the upscaled size)."),
                io.Image.Input("aligned_faces", tooltip="Aligned faces to put back (e.g. the lip-synced faces)."),
                Alignment.Input("alignment", tooltip="The alignment of those faces: from Face Align, or the sampler's "
                                "(one row per output frame, picked from the original frames)."),
                MouthROI.Input("mouth_roi", optional=True, tooltip="Optional (restored) mouth crops to blend into the faces first."),
                widget("mask_smooth"),
                widget("color_match"),
                widget("region"),
                io.Image.Input("source_images", optional=True, tooltip="When `images` are the original frames upscaled (Upscale Image (using Model)): the original frames, so only what changed in each face replaces the upscaled pixels. Faces are pasted at the upscaled size either way."),
            ],
            outputs=[io.Image.Output("pasted", display_name="images", tooltip="The frames with the faces pasted back, one per aligned face.")],
        )

    @classmethod
    def execute(cls, images, aligned_faces, alignment, mask_smooth, color_match, region, mouth_roi=None, source_images=None) -> io.NodeOutput:
        out = paste_back(images, aligned_faces, alignment, roi=mouth_roi, mask_smooth=mask_smooth, colour_match=color_match,
                         region=region, reference=source_images)
        return io.NodeOutput(out)


NODES = [FaceAlignAffine, MouthROICrop, ROIPasteBlend]
