"""Face-path nodes: align to the LatentSync template, cut the mouth ROI, paste back."""
from __future__ import annotations

import contextlib

import torch
from comfy_api.v0_0_2 import io

import comfy.model_management
import comfy.utils
from ..latentsync_core.face.colour import COLOUR_MODES
from ..latentsync_core.face.face_align import SELECTION_MODES, FaceAligner
from ..latentsync_core.face.landmarks import BACKENDS
from ..latentsync_core.face.mouth_roi import crop_mouth
from ..latentsync_core.face.paste import PASTE_REGIONS, paste_back
from ..latentsync_core.run.host import landmark_backend
from .host import ComfyHost, open_landmark_cache
from .types import CATEGORY, Alignment, MouthROI


def landmark_cache_input() -> io.Boolean.Input:
    """The ``landmark_cache`` input of the nodes that detect faces (optional: older workflows lack it)."""
    return io.Boolean.Input("landmark_cache", default=True, optional=True, tooltip="Keep the detected landmarks on disk (ComfyUI/user/latentsync/landmark_cache; delete the folder to clear it) so the same frames with the same detection settings skip detection next time, even after a restart.")


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
                io.Combo.Input("resolution", options=["256", "512"], default="256", tooltip="Aligned face size: 256 for LatentSync 1.5, 512 for 1.6."),
                io.Combo.Input("backend", options=BACKENDS, default=BACKENDS[0], tooltip="Landmark detector. mediapipe: offline default. insightface: the detector LatentSync itself uses (buffalo_l, non-commercial licence). face_alignment: needs the face-alignment package."),
                io.Combo.Input("face_selection", options=list(SELECTION_MODES), default="largest", tooltip="Which face to follow when there are several: the largest on each new shot, the face_index-th from the left, or the face chosen in the first frame, found again after cuts."),
                io.Int.Input("face_index", default=0, min=0, max=16, tooltip="For face_selection=index: 0 is the leftmost face."),
                io.Float.Input("smoothing", default=0.2, min=0.0, max=0.95, step=0.05, tooltip="Weight of the previous frame in the moving average of the face position (LatentSync uses 0.2). Higher is steadier but lags fast motion."),
                io.Int.Input("max_gap", default=4, min=0, max=30, tooltip="Longest run of frames with a missed detection, inside one shot, that is bridged by interpolating its neighbours."),
                io.Boolean.Input("download_models", default=False, tooltip="insightface only: download buffalo_l into models/insightface when missing."),
                landmark_cache_input(),
            ],
            outputs=[
                io.Image.Output("aligned_faces", display_name="aligned_faces", tooltip="Aligned faces [N,res,res,3]; gray where no face was found."),
                Alignment.Output("alignment", display_name="alignment", tooltip="Per-frame transform, face flag and landmarks for the later nodes."),
                io.Mask.Output("face_mask", display_name="face_mask", tooltip="[N,res,res]: 1 for frames with a face, 0 for frames without."),
            ],
        )

    @classmethod
    def execute(cls, images, resolution, backend, face_selection, face_index, smoothing, max_gap, download_models, landmark_cache=True) -> io.NodeOutput:
        landmarks = landmark_backend(ComfyHost(), backend, download_models)
        aligner = FaceAligner(
            landmarks,
            resolution=int(resolution),
            selection=face_selection,
            face_index=face_index,
            smoothing=smoothing,
            max_gap=max_gap,
            cache=open_landmark_cache(landmark_cache),
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
                io.Int.Input("target_size", default=512, min=64, max=2048, step=64, tooltip="Side of the crops; 512 for GFPGAN and CodeFormer."),
                io.Float.Input("margin", default=0.15, min=0.0, max=1.0, step=0.05, tooltip="Border added around the lips on every side, as a fraction of the lip width."),
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
                io.Float.Input("mask_smooth", default=0.5, min=0.0, max=1.0, step=0.05, tooltip="Feather width of the mouth and face masks: 0 is a hard edge, 1 the softest."),
                io.Combo.Input("color_match", options=list(COLOUR_MODES), default="mean_std", tooltip="Match the mouth crop's colours to the face around it: per-channel mean/std, full histogram, or none."),
                io.Combo.Input("region", options=list(PASTE_REGIONS), default="auto", tooltip="auto: paste only the pixels that changed (keeps the rest of the face sharp). full_face: paste the whole aligned crop, as LatentSync does."),
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
